"""The Streamlit dashboard: cached read-only data access, pure chart builders, and thin pages."""
