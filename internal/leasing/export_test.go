package leasing

// EmittedEvents returns how many events m queued since it was made, so that
// tests know when they received every event of a cycle.
func EmittedEvents(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.emitted
}
