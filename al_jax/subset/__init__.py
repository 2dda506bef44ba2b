"""One-shot subset selection (paper 002): every label is known; a method
picks a fraction of the training set (optionally with weights) to train a
fresh model on. Pure functions of scores, features and labels."""
