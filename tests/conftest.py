# The hidden checks' options and markers, for the project's suite and for the judge alike.
pytest_plugins = ["coursekit.grading.pytest_plugin"]
