"""In-memory fakes of every port, for application tests and the contract suite."""
