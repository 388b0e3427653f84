package pusher

// MaxSocketIDLength is the longest socket id accepted: two uint64s in
// decimal and the dot between them.
const MaxSocketIDLength = 20 + 1 + 20

// ValidSocketID reports whether s is a socket id, ^\d+\.\d+$, the only form
// Pusher servers issue and the one pusher-http-php accepts when an app signs
// or publishes with it (Pusher::validate_socket_id), and at most
// MaxSocketIDLength characters long.
func ValidSocketID(s string) bool {
	if len(s) > MaxSocketIDLength {
		return false
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	return dot > 0 && dot < len(s)-1
}
