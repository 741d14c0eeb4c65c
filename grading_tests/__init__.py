"""The hidden grading tests, their trusted references and the mistake catalogue.

Run them through ``autograder.grading.suite.run_hidden_tests`` (or ``pytest grading_tests
--submission PATH``); never shipped to students.
"""
