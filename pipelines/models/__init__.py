"""The statistical models: fitted on the built tables, results returned as DataFrames and stored through sql/."""
