"""Grading: the one path from a submission folder to a ``GradeReport``.

``grade`` forks a child per submission (``workers``) that runs the hidden tests
(``suite``, over pytest's private API in ``pytest_internals``) against a sandboxed
provider; ``model`` holds what comes out, ``answer`` how a child sends it back.
"""
