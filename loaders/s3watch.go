package loaders

import "fmt"

// Version says what the last listing said of an object, its ETag and
// size, as one string that changes when the object does; ok is false for
// an object no listing saw. A watch compares it between listings.
func (s *S3) Version(u string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[u]
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%s/%d", m.etag, m.size), true
}
