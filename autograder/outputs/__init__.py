"""What grading writes: results.json (Gradescope), feedback, grades.csv, the class
report and nbgrader's gradebook. Pure functions of the reports, files at the edges."""
