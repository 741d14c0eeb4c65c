"""The notebooks as the grader reads them: reading and merging with the instructor's
source (``read``), the student release (``release``), the example submissions
(``examples``)."""
