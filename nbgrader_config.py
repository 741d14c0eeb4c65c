"""nbgrader configuration: the repository root is the course directory."""

c = get_config()  # noqa: F821  (nbgrader injects get_config)

c.CourseDirectory.root = "."
c.CourseDirectory.course_id = "backprop-course"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# The release must hold exactly what nbgrader builds; executing the stubs at build
# time would only produce NotImplementedError outputs, so it is left off.
c.GenerateAssignment.force = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
