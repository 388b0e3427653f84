package realtime

// PresenceUser is one member of a presence channel: one user, however many
// sockets (tabs) they have on the channel.
type PresenceUser struct {
	// ID is the user_id of the member's channel_data, as a string.
	ID string `json:"id"`
}

// PresenceUsers lists the members of a presence channel of tenant (for the
// HTTP API's GET channels/{name}/users). Presence channels are not
// implemented yet, so it is always empty.
func (h *Hub) PresenceUsers(tenant, channel string) []PresenceUser {
	return nil
}
