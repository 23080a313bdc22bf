package events

// dedupWindow is how many recent event IDs the consumer remembers to drop copies. EventBridge
// and ECS duplicates arrive close together (a retry of one delivery), and a scale-in of a
// thousand instances with their task events stays within a few thousand events, so 4096 IDs
// (a few hundred KiB) cover them; an older copy is only an extra look for the controller.
const dedupWindow = 4096

// seenIDs is a set of the last n IDs added, oldest forgotten first. Not safe for concurrent
// use: the consumer guards it with its mutex.
type seenIDs struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newSeenIDs(n int) *seenIDs {
	return &seenIDs{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

func (s *seenIDs) has(id string) bool {
	_, ok := s.set[id]
	return ok
}

// remove forgets id (its slot in the ring is reused in turn).
func (s *seenIDs) remove(id string) { delete(s.set, id) }

func (s *seenIDs) add(id string) {
	if s.has(id) {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
