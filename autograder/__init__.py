"""The backprop assignment's grader: runs untrusted notebooks in a sandbox and scores
them with the hidden tests in ``grading_tests/``. See DESIGN.md for how the parts fit,
and README.md's Layout for what each module holds."""
