package runner

// GroupAge is how long a commit group waits at most (see group.go).
const GroupAge = groupAge
