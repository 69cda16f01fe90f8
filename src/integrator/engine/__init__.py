"""Running work: paged export sessions now; jobs, the dispatcher and the scheduler later."""
