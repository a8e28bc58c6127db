"""Stripe subscriptions → the accounts and mrr_history contracts (Dashboard CSV export or API JSON).

One account per customer across all of its subscriptions. The rules, each tested:

- A subscription *became active* (was paid for) when its status is active, past_due or unpaid, or it
  was canceled after its trial ended (or it had no trial). incomplete and incomplete_expired never
  did; paused only happens when a trial ends without a payment method, so it never did either.
- Trials are not customer time: a subscription that converted from a trial starts at its trial end;
  a trial that never converted gives no signup (a customer with nothing else is listed as rejected).
- signup = the earliest paid start; churn = the latest paid end, and only once no subscription is
  active, trialing or past_due. `canceled_at` is when the customer asked and `cancel_at_period_end`
  only schedules the end, so neither is the churn: the end is `ended_at` (an unpaid subscription's
  paid time ends at its current period start). A plan change that replaces one subscription with
  another leaves a live subscription, so it is not a churn.
- MRR = Σ amount × quantity normalised to a month (year ÷ 12, week × 52 ÷ 12, day × 365 ÷ 12, divided
  by the interval count). CSV amounts are in major units; API amounts are in the currency's smallest
  unit, divided by 100 except for zero-decimal currencies such as JPY (and by 1000 for three-decimal
  ones). A month's MRR is what was in force at its start (or at signup, in the signup month), so a
  mid-month plan change shows from the next month and is never counted twice.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .reading import ImportInputError, Table, clean_text, email_domain, read_table
from .units import THREE_DECIMAL_CURRENCIES, ZERO_DECIMAL_CURRENCIES, format_date, parse_numbers, parse_timestamps
from .report import ConversionReport, write_outputs

STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
LIVE_STATUSES = ("active", "trialing", "past_due")
MONTHS_PER_INTERVAL = {"month": 1.0, "year": 1 / 12, "week": 52 / 12, "day": 365 / 12}
INTERVAL_ALIASES = {"monthly": "month", "yearly": "year", "annual": "year", "annually": "year", "weekly": "week",
                    "daily": "day", "months": "month", "years": "year", "weeks": "week", "days": "day"}
# Several customers share these; a ticket from one of them says nothing about which customer wrote it.
FREE_MAIL_DOMAINS = frozenset("""gmail.com googlemail.com yahoo.com hotmail.com outlook.com live.com msn.com aol.com
icloud.com me.com mac.com proton.me protonmail.com gmx.de gmx.net web.de mail.ru yandex.ru qq.com 163.com""".split())

CSV_NAMES = {
    "id": ("id", "Subscription ID"),
    "customer": ("Customer ID", "Customer", "customer_id"),
    "email": ("Customer Email", "customer_email"),
    "status": ("Status",),
    "plan": ("Plan", "Plan Nickname", "Price"),
    "product": ("Product", "Product Name"),
    "quantity": ("Quantity",),
    "interval": ("Interval", "Plan Interval", "Billing Interval"),
    "interval_count": ("Interval Count", "Plan Interval Count"),
    "amount": ("Amount", "Plan Amount", "Price Amount"),
    "currency": ("Currency", "Plan Currency"),
    "created": ("Created (UTC)", "Created"),
    "start": ("Start (UTC)", "Start Date (UTC)", "Start", "Start Date"),
    "current_period_start": ("Current Period Start (UTC)",),
    "current_period_end": ("Current Period End (UTC)",),
    "trial_start": ("Trial Start (UTC)",),
    "trial_end": ("Trial End (UTC)",),
    "canceled_at": ("Canceled At (UTC)", "Cancelled At (UTC)"),
    "cancel_at_period_end": ("Cancel At Period End",),
    "ended_at": ("Ended At (UTC)",),
    # cancellation_details.reason: cancellation_requested, payment_failed or payment_disputed
    "cancellation_reason": ("Cancellation Reason", "Cancellation Details Reason"),
}
TIME_FIELDS = ("created", "start", "current_period_start", "current_period_end", "trial_start", "trial_end",
               "canceled_at", "ended_at")


def import_stripe(subscriptions: Path | str, out_dir: Path | str, customers: Path | str | None = None) -> ConversionReport:
    """Convert a Stripe subscriptions export into OUT/accounts.csv and OUT/mrr_history.csv."""
    out_dir = Path(out_dir)
    table = read_table(subscriptions, "Stripe subscriptions", list_keys=("subscriptions",))
    report = ConversionReport(source="stripe", input_path=Path(subscriptions), input_format=table.file_format,
                              rows_read=len(table.frame) + len(table.unreadable))
    report.flag_unreadable(table)
    report.notes.extend(table.notes)
    if table.file_format == "csv":
        subs = _normalise_csv(table, report)
        report.info["amount_units"] = "major units (Dashboard CSV)"
    else:
        subs = _normalise_json(table, report)
        report.info["amount_units"] = "smallest currency unit (API), divided by 100 except zero-decimal currencies"
    report.info["trials"] = "not customer time: a converted trial starts at its trial end; an unconverted one gives no signup"
    report.info["hours_basis"] = None
    report.info["csat_scale"] = None
    report.info["timezone"] = "UTC (Stripe exports are UTC)"

    if customers:
        _add_customer_emails(subs, customers, report)
    subs = _classify(subs, report)
    accounts, history = _accounts_and_history(subs, report)
    frames = {"accounts": accounts, "mrr_history": history}
    domains = _domain_map(subs, accounts, report)
    write_outputs(report, out_dir, frames, "accounts")
    domains.to_csv(out_dir / "account_domains.csv", index=False)
    report.outputs["account_domains"] = out_dir / "account_domains.csv"
    report.rows_written["account_domains"] = len(domains)
    return report


def _normalise_csv(table: Table, report: ConversionReport) -> pd.DataFrame:
    needs = {role: CSV_NAMES[role] for role in ("customer", "status")}
    found = {}
    for role, names in needs.items():
        found[role] = table.column(*names)
    if table.column(*CSV_NAMES["start"]) is None and table.column(*CSV_NAMES["created"]) is None:
        found["start"] = None
    if table.column(*CSV_NAMES["amount"]) is None:
        found["amount"] = None
    missing = [role for role, header in found.items() if header is None]
    if missing:
        wanted = {"start": CSV_NAMES["start"] + CSV_NAMES["created"]}
        text = "; ".join(f"{role}: one of {list(wanted.get(role, CSV_NAMES[role]))}" for role in missing)
        raise ImportInputError(table.path, f"the subscriptions export lacks columns it needs ({text}); columns "
                               f"found: {[c for c in table.frame.columns if c != '_row']}", column=missing[0])
    subs = pd.DataFrame({"_row": table.frame["_row"]})
    for role, names in CSV_NAMES.items():
        subs[role] = table.values(*names)
    if table.column(*CSV_NAMES["start"]) is None:
        report.guesses.append("no Start column: a subscription's start taken from Created")
    if table.column(*CSV_NAMES["ended_at"]) is None:
        report.guesses.append("no 'Ended At' column: a canceled subscription ends at Current Period End when it was "
                              "canceled at period end, else at Canceled At")
    if table.column(*CSV_NAMES["quantity"]) is None:
        report.guesses.append("no Quantity column: every subscription taken as quantity 1")
    if table.column(*CSV_NAMES["interval"]) is None:
        report.guesses.append("no Interval column: every amount taken as monthly")
    if table.column(*CSV_NAMES["trial_end"]) is None:
        report.notes.append("no 'Trial End' column: trials cannot be told apart from paid time")
    subs["is_api"] = False
    subs["metadata"] = [dict() for _ in range(len(subs))]
    meta = [c for c in table.frame.columns if str(c).strip().lower().endswith("(metadata)")]
    for header in meta:
        key = str(header).strip()[: -len("(metadata)")].strip()
        values = clean_text(table.frame[header])
        for d, v in zip(subs["metadata"], values):
            if v is not None:
                d[key] = v

    rows = subs["_row"]
    amount, bad = parse_numbers(subs["amount"])
    report.flag(bad | (amount < 0), rows, "Amount", "not an amount >= 0: this subscription adds no MRR",
                subs["amount"], "value_emptied")
    quantity, bad_q = parse_numbers(subs["quantity"])
    report.flag(bad_q | (quantity < 0), rows, "Quantity", "not a quantity >= 0: taken as 1", subs["quantity"],
                "value_emptied")
    quantity = quantity.where(quantity >= 0).fillna(1.0)
    count, bad_c = parse_numbers(subs["interval_count"])
    garbled_count = bad_c | (count <= 0) | (count.notna() & (count != count.round()))
    report.flag(garbled_count, rows, "Interval Count", "not a whole number of intervals >= 1: this subscription "
                "adds no MRR", subs["interval_count"], "value_emptied")
    if table.column(*CSV_NAMES["interval_count"]) is not None:
        report.flag(count.isna() & ~garbled_count, rows, "Interval Count", "empty: taken as 1 (Stripe's default)",
                    subs["interval_count"], "value_emptied")
    count = count.where(~garbled_count).fillna(1.0).where(~garbled_count)
    interval = subs["interval"].str.lower().map(lambda v: INTERVAL_ALIASES.get(v, v) if isinstance(v, str) else v)
    if table.column(*CSV_NAMES["interval"]) is None:
        interval = interval.fillna("month")
    else:
        report.flag(interval.isna(), rows, "Interval", "empty: this subscription adds no MRR", subs["interval"],
                    "value_emptied")
    per_month = interval.map(MONTHS_PER_INTERVAL)
    report.flag(interval.notna() & per_month.isna(), rows, "Interval", "not day, week, month or year: this "
                "subscription adds no MRR", subs["interval"], "value_emptied")
    subs["monthly_amount"] = (amount.where(amount >= 0) * quantity * per_month / count).fillna(0.0)
    subs["interval"] = interval
    subs["quantity"] = quantity
    subs["cancel_at_period_end"] = subs["cancel_at_period_end"].str.lower().isin(["true", "1", "yes", "t"])
    for name in TIME_FIELDS:
        parsed = parse_timestamps(subs[name], tz=None)
        label = CSV_NAMES[name][0]
        report.flag(parsed.bad, rows, label, "not a date and time", subs[name],
                    "row_dropped" if name in ("start",) else "value_emptied")
        subs[name] = parsed.utc
    return subs


def _normalise_json(table: Table, report: ConversionReport) -> pd.DataFrame:
    records = []
    assert table.records is not None  # a JSON export's table keeps its records (importers/reading.py)
    for row, record in zip(table.frame["_row"], table.records):
        customer = record.get("customer")
        email = None
        if isinstance(customer, dict):
            email = customer.get("email")
            customer = customer.get("id")
        items = (record.get("items") or {}).get("data") or []
        first_item = items[0] if items else {}
        monthly, currency, interval, problems = _json_monthly_amount(record, items)
        for column, reason, raw in problems:
            report.flag(pd.Series([True]), pd.Series([row]), column, reason, pd.Series([raw]), "value_emptied")
        plan = record.get("plan") or first_item.get("plan") or {}
        price = first_item.get("price") or {}
        records.append({
            "_row": row,
            "id": record.get("id"),
            "customer": customer,
            "email": email,
            "status": record.get("status"),
            "plan": price.get("nickname") or plan.get("nickname") or price.get("id") or plan.get("id"),
            "product": price.get("product") if isinstance(price.get("product"), str) else None,
            "quantity": record.get("quantity"),
            "interval": interval,
            "currency": currency,
            "monthly_amount": monthly,
            "created": record.get("created"),
            "start": record.get("start_date"),
            # since API 2025-03-31 the current period lives on the items
            "current_period_start": record.get("current_period_start", first_item.get("current_period_start")),
            "current_period_end": record.get("current_period_end", first_item.get("current_period_end")),
            "trial_start": record.get("trial_start"),
            "trial_end": record.get("trial_end"),
            "canceled_at": record.get("canceled_at"),
            "cancel_at_period_end": bool(record.get("cancel_at_period_end")),
            "ended_at": record.get("ended_at"),
            "cancellation_reason": (record.get("cancellation_details") or {}).get("reason"),
            "metadata": dict(record.get("metadata") or {}),
            "is_api": True,
        })
    subs = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["_row", *CSV_NAMES, "metadata"])
    for name in ("id", "customer", "email", "status", "plan", "product", "cancellation_reason"):
        subs[name] = clean_text(subs[name])
    rows = subs["_row"]
    for name in TIME_FIELDS:
        parsed = parse_timestamps(subs[name], fmt="epoch_s")
        report.flag(parsed.bad, rows, name, "not epoch seconds", subs[name],
                    "row_dropped" if name == "start" else "value_emptied")
        subs[name] = parsed.utc
    return subs


def _json_monthly_amount(record: dict, items: list[dict]):
    """Σ over items of unit_amount × quantity per month, in major units; legacy `plan` when no items."""
    problems = []
    total, currency, interval = 0.0, record.get("currency"), None
    lines = []
    for item in items:
        price = item.get("price") or item.get("plan") or {}
        recurring = price.get("recurring") or {}
        lines.append((price.get("unit_amount", price.get("amount")), item.get("quantity", record.get("quantity", 1)),
                      price.get("currency") or currency, recurring.get("interval", price.get("interval")),
                      recurring.get("interval_count", price.get("interval_count", 1))))
    if not lines and record.get("plan"):
        plan = record["plan"]
        lines.append((plan.get("amount"), record.get("quantity", 1), plan.get("currency") or currency,
                      plan.get("interval"), plan.get("interval_count", 1)))
    for unit_amount, quantity, cur, every, count in lines:
        currency = currency or cur
        interval = interval or every
        per_month = MONTHS_PER_INTERVAL.get(str(every).lower()) if every else None
        if unit_amount is None or per_month is None:
            problems.append(("items.data.price", "no unit_amount or recurring interval: this item adds no MRR",
                             f"{unit_amount} per {every}"))
            continue
        cur_l = str(cur or "").lower()
        divisor = 1 if cur_l in ZERO_DECIMAL_CURRENCIES else 1000 if cur_l in THREE_DECIMAL_CURRENCIES else 100
        total += float(unit_amount) / divisor * float(quantity if quantity is not None else 1) * per_month / float(count or 1)
    return total, (currency.lower() if isinstance(currency, str) else None), interval, problems


def _add_customer_emails(subs: pd.DataFrame, customers_path, report: ConversionReport) -> None:
    table = read_table(customers_path, "Stripe customers", list_keys=("customers",))
    id_col = table.column("id", "Customer ID")
    email_col = table.column("email", "Email", "Customer Email")
    if id_col is None or email_col is None:
        raise ImportInputError(customers_path, "the customers export needs an id and an email column; columns found: "
                               f"{[c for c in table.frame.columns if c != '_row']}", column="email")
    emails = dict(zip(table.values(id_col), table.values(email_col)))
    subs["email"] = subs["email"].fillna(subs["customer"].map(emails))
    report.notes.append(f"customer e-mails read from {Path(customers_path).name} ({len(emails):,} customers)")


def _classify(subs: pd.DataFrame, report: ConversionReport) -> pd.DataFrame:
    """Status, paid interval and liveness per subscription; rows that cannot be used are rejected."""
    rows = subs["_row"]
    status = subs["status"].str.lower().str.replace(" ", "_", regex=False)
    report.flag(subs["customer"].isna(), rows, "Customer ID", "empty: a subscription needs its customer", subs["customer"])
    unknown = status.isna() | ~status.isin(STATUSES)
    report.flag(unknown, rows, "Status", f"not a Stripe status ({', '.join(STATUSES)})", subs["status"])
    start = subs["start"].fillna(subs["created"])
    report.flag(start.isna() & subs["start"].isna(), rows, "Start", "no start or created date", subs["start"])
    subs = subs.assign(status=status, start=start)

    trial_end = subs["trial_end"]
    had_trial = trial_end.notna() & (trial_end > subs["start"])
    paid_start = subs["start"].where(~had_trial, trial_end)
    end = subs["ended_at"].copy()
    canceled = status == "canceled"
    no_end = canceled & end.isna()
    if no_end.any():
        fallback = subs["current_period_end"].where(subs["cancel_at_period_end"], subs["canceled_at"])
        end = end.fillna(fallback.where(canceled))
        report.guesses.append(f"{int(no_end.sum()):,} canceled subscriptions have no Ended At: ended at their period "
                              "end when canceled at period end, else at Canceled At")
    unpaid = status == "unpaid"
    # an unpaid subscription stopped paying when its current (unpaid) period began
    end = end.where(~unpaid, subs["current_period_start"].fillna(end))
    became_active = status.isin(["active", "past_due", "unpaid"]) | (canceled & (end.isna() | (end > paid_start)))
    subs = subs.assign(paid_start=paid_start, paid_end=end.where(~status.isin(["active", "past_due"])),
                       became_active=became_active & ~unknown, is_live=status.isin(LIVE_STATUSES),
                       had_trial=had_trial)
    usable = ~report_dropped(report, subs)
    subs = subs[usable].copy()

    # customers with nothing ever paid are not accounts: say so for each of their rows
    paid_customers = set(subs.loc[subs["became_active"], "customer"])
    never = ~subs["customer"].isin(paid_customers)
    for customer, part in subs[never].groupby("customer"):
        statuses = ", ".join(sorted(set(part["status"])))
        report.flag(pd.Series(True, index=part.index), part["_row"], "Customer ID",
                    f"customer never paid (subscriptions: {statuses}): not an account", part["customer"])
    n_trial_only = subs[never & (subs["status"] == "trialing")]["customer"].nunique()
    if n_trial_only:
        report.notes.append(f"{n_trial_only:,} customers are on a trial they have not yet paid for: not accounts yet")
    scheduled = subs["is_live"] & subs["cancel_at_period_end"] & subs["customer"].isin(paid_customers)
    if scheduled.any():
        report.notes.append(f"{subs.loc[scheduled, 'customer'].nunique():,} customers have a cancellation scheduled at "
                            "period end: still customers until it takes effect (a scheduled churn, not a churn)")
    expired = (subs["status"] == "incomplete_expired").sum()
    if expired:
        report.notes.append(f"{int(expired):,} incomplete_expired subscriptions never count toward signup or MRR")
    return subs[~never].copy()


def report_dropped(report: ConversionReport, subs: pd.DataFrame) -> pd.Series:
    return subs["_row"].isin(report.dropped_rows())


def _accounts_and_history(subs: pd.DataFrame, report: ConversionReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    # the export's own latest past instant is its as-of: live customers are counted up to that month
    observed = pd.concat([subs[c] for c in ("created", "start", "current_period_start", "trial_start",
                                            "canceled_at", "ended_at")]).dropna()
    as_of = observed.max() if not observed.empty else pd.Timestamp.now(tz="UTC")
    report.guesses.append(f"data taken as of {as_of:%Y-%m-%d}, the latest date in the export: live customers' "
                          "MRR history runs to that month")
    report.info["as_of"] = f"{as_of:%Y-%m-%d}"

    paid = subs[subs["became_active"]]
    per_customer = paid.groupby("customer").agg(signup=("paid_start", "min"), last_end=("paid_end", "max"),
                                                open_ended=("paid_end", lambda s: s.isna().any()))
    live = subs.groupby("customer")["is_live"].any()
    per_customer["is_live"] = live.reindex(per_customer.index).fillna(False)
    # a paid subscription with no end yet (active, past_due) keeps the customer; so does any live one
    per_customer["churn"] = per_customer["last_end"].where(~per_customer["is_live"] & ~per_customer["open_ended"])
    _note_gaps(paid, report)

    history = _monthly_mrr(paid, per_customer, as_of)

    latest = paid.sort_values(["customer", "paid_start"]).groupby("customer").tail(1).set_index("customer")
    last_mrr = history.groupby("customer")["mrr"].last()
    # why a churned customer left: the reason Stripe gives for the subscription whose end was the churn, or
    # "unpaid" for one that ended unpaid (the build's reasons file maps both to a cause)
    ending = paid.assign(reason=paid["cancellation_reason"].where(paid["cancellation_reason"].notna(),
                                                                  paid["status"].where(paid["status"] == "unpaid")))
    ending = ending.sort_values(["customer", "paid_end"]).groupby("customer").tail(1).set_index("customer")
    churn_reason = ending["reason"].reindex(per_customer.index).where(per_customer["churn"].notna())
    accounts = pd.DataFrame({
        "account_id": per_customer.index,
        "signup_date": format_date(per_customer["signup"]).to_numpy(),
        "churn_date": format_date(per_customer["churn"]).to_numpy(),
        "mrr": last_mrr.reindex(per_customer.index).fillna(latest["monthly_amount"]).round(2).to_numpy(),
        "plan": latest["plan"].fillna(latest["product"]).reindex(per_customer.index).to_numpy(),
        "billing_interval": latest["interval"].reindex(per_customer.index).to_numpy(),
        "currency": latest["currency"].reindex(per_customer.index).to_numpy(),
        "churn_reason": churn_reason.to_numpy(),
    })
    metadata = latest["metadata"].reindex(per_customer.index)
    keys = sorted({k for d in metadata for k in (d or {})})
    taken = {c.lower() for c in accounts.columns}
    for key in keys:
        name = key if key.lower() not in taken else f"{key} (metadata)"
        taken.add(name.lower())
        accounts[name] = [(d or {}).get(key) for d in metadata]
    if keys:
        report.notes.append(f"subscription metadata kept as segments: {keys}")

    currencies = sorted(c for c in paid["currency"].dropna().unique())
    report.info["currencies"] = currencies
    if len(currencies) > 1:
        report.guesses.append(f"MRR adds amounts in several currencies ({', '.join(currencies)}) as plain numbers; "
                              "convert them to one currency before comparing revenue")
    history = pd.DataFrame({
        "account_id": history["customer"].to_numpy(),
        "month": history["month_start"].dt.strftime("%Y-%m").to_numpy(),
        "mrr": history["mrr"].round(2).to_numpy(),
    })
    n_churned = int(per_customer["churn"].notna().sum())
    report.notes.append(f"{len(accounts):,} accounts from {subs['customer'].nunique():,} customers; {n_churned:,} churned")
    return accounts, history


def _monthly_mrr(paid: pd.DataFrame, per_customer: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each customer's MRR per month, from its signup month to the month before it churned (or the as-of
    month): the paid subscriptions in force at the month's start (or at signup, in the first month), summed."""
    # month grid: signup month .. the month before the churn instant, or the as-of month
    last = per_customer["churn"].fillna(as_of + pd.Timedelta(microseconds=1)) - pd.Timedelta(microseconds=1)
    grid = pd.DataFrame({
        "customer": per_customer.index.to_numpy(),
        "first": per_customer["signup"].dt.tz_convert(None).dt.to_period("M").to_numpy(),
        "last": last.dt.tz_convert(None).dt.to_period("M").to_numpy(),
    })
    grid = grid[grid["last"] >= grid["first"]]
    grid["month"] = [pd.period_range(a, b, freq="M") for a, b in zip(grid["first"], grid["last"])]
    months = grid.explode("month")[["customer", "month"]]
    months["month_start"] = months["month"].dt.to_timestamp().dt.tz_localize("UTC")
    months = months.merge(per_customer[["signup"]].rename_axis("_c").reset_index(), left_on="customer",
                          right_on="_c").drop(columns="_c")
    months["at"] = months[["month_start", "signup"]].max(axis=1)
    pairs = months.merge(paid[["customer", "paid_start", "paid_end", "monthly_amount"]], on="customer")
    in_force = (pairs["paid_start"] <= pairs["at"]) & (pairs["paid_end"].isna() | (pairs["at"] < pairs["paid_end"]))
    pairs["mrr"] = pairs["monthly_amount"].where(in_force, 0.0)
    return pairs.groupby(["customer", "month_start"], as_index=False)["mrr"].sum().sort_values(["customer", "month_start"])


def _note_gaps(paid: pd.DataFrame, report: ConversionReport) -> None:
    """Plan changes (one subscription replaced by another within a day) and real gaps, counted."""
    ordered = paid.sort_values(["customer", "paid_start"])
    running_end = ordered.groupby("customer")["paid_end"].transform(
        lambda s: s.fillna(pd.Timestamp.max.tz_localize("UTC")).cummax().shift())
    starts_later = ordered["paid_start"] - running_end
    replaced = (starts_later <= pd.Timedelta(days=1)) & (starts_later >= pd.Timedelta(0))
    gaps = starts_later > pd.Timedelta(days=1)
    if replaced.any():
        report.notes.append(f"{ordered.loc[replaced, 'customer'].nunique():,} customers replaced a subscription with "
                            "another (a plan change): not a churn")
    if gaps.any():
        report.guesses.append(f"{ordered.loc[gaps, 'customer'].nunique():,} customers came back after a gap with no "
                              "paid subscription; the contract has one signup and one churn, so the gap is counted "
                              "as customer time (MRR 0 in those months)")


def _domain_map(subs: pd.DataFrame, accounts: pd.DataFrame, report: ConversionReport) -> pd.DataFrame:
    """E-mail domain → account, for linking tickets by requester domain; shared and free-mail domains left out."""
    pairs = pd.DataFrame({"source_key": subs["email"].map(email_domain), "account_id": subs["customer"]}).dropna()
    pairs = pairs[pairs["account_id"].isin(set(accounts["account_id"]))].drop_duplicates()
    free = pairs["source_key"].isin(FREE_MAIL_DOMAINS)
    shared = pairs.groupby("source_key")["account_id"].transform("nunique") > 1
    if (free | shared).any():
        report.notes.append(f"domain map: {pairs.loc[free | shared, 'source_key'].nunique():,} free-mail or shared "
                            "domains left out (they cannot name one account)")
    return pairs[~free & ~shared].sort_values("source_key").reset_index(drop=True)
