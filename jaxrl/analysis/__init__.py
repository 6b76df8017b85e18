"""After a run, from its files only: IQM and bootstrap CIs, comparisons of runs, sweep reports."""
