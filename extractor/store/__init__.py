"""Store stage: the files a run leaves behind (results, errors, locks), written so that a
crash, a full disk or a second run can never leave them in a state the next run can't use."""
