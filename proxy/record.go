package proxy

import (
	"net/http"
	"strings"
	"time"

	"github.com/recordsync/recordsync/laravel"
	"github.com/recordsync/recordsync/pusher"
	"github.com/recordsync/recordsync/versioncache"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
)

// Headers recordsync reads or writes.
const (
	// HeaderCache tells whether recordsync answered from its cache ("hit")
	// or passed a poll upstream ("miss").
	HeaderCache = "X-Recordsync-Cache"
	// HeaderTabID is the browser tab's id: the browser kit sends it, the app
	// echoes it as tab_id in record.updated.
	HeaderTabID = "X-Tab-ID"
	// HeaderSocketID is Echo's socket id (axios spells it X-Socket-Id).
	HeaderSocketID = "X-Socket-ID"
)

// Messages of the answers recordsync makes itself.
const (
	MessageConflict        = "This record was changed by someone else."
	MessageBusy            = "The record is busy, please try again."
	MessageUnauthenticated = "Unauthenticated."
	MessageForbidden       = "Forbidden."
)

// serveRecord handles a GET/PUT/PATCH of a record route; method is the
// method Laravel routes it as (a POST may be a PUT or PATCH by override).
// path is the request's path as Laravel's router matches it (classify), pt
// the route's pattern it matched: next may rewrite r.URL in place
// (php_fastcgi → /index.php), so the key and the list channels' parameters
// come from them.
//
// On a route with Inertia pages (RouteSpec.Inertia), an answer that is an
// Inertia page is read at the route's props path, and an Inertia write
// answered with a redirect to the record's page keeps the record's turn
// until that page comes (follows): the save is learned and announced from
// it.
func (h *Handler) serveRecord(w http.ResponseWriter, r *http.Request, info RequestInfo, next Next, rt *route, pt *pattern, path, method string) error {
	write := method != http.MethodGet
	key := versioncache.Key{Tenant: info.Tenant, Type: rt.spec.Type, ID: pt.param(path, "id")}
	cred := h.credentialID(r, info)
	inertia := rt.inertia != nil && inertiaRequest(r)

	var held *heldTurn
	// Released on every return, and on panic (reverse_proxy's http.ErrAbortHandler).
	defer func() { held.release() }()
	if write {
		var answered bool
		merge := rt.spec.MergePatches && method == http.MethodPatch
		// A stale Inertia write is answered at the edge only when the
		// browser kit is on the page (its X-Tab-ID): the kit catches
		// Inertia's error event for a non-Inertia answer, which Inertia
		// alone would show as its error modal. Without the kit the write
		// still takes its turn, and the app answers it as it always has.
		edge := !inertia || r.Header.Get(HeaderTabID) != ""
		if held, answered = h.guard(w, r, key, cred, merge, edge); answered {
			return nil
		}
	}
	// The page an Inertia write's redirect led to holds the write's save.
	var fol *follow
	if !write && rt.inertia != nil {
		if fol = h.follows.take(key, cred); fol != nil {
			held = fol.held
		}
	}

	r.Header.Del("Accept-Encoding")
	rec := newRecorder(w, h.opts.MaxBodyBytes, learnableStatus)
	// A first load of an Inertia page is HTML.
	rec.anyType = rt.inertia != nil && !write && !inertiaRequest(r)
	if held != nil {
		// An answer that will not be learned from (its headers say so, or
		// it grew past the cap) holds the record no longer — but for an
		// Inertia write's redirect, whose page comes next.
		rec.onStream = func() {
			if !inertia || !write || !isRedirect(rec.status) {
				held.release()
			}
		}
	}
	err := next(rec, r)
	if !rec.wroteHeader {
		delete(w.Header(), HeaderBroadcast) // never reaches the client
	}
	if write && inertia && held != nil && err == nil && isRedirect(rec.status) {
		h.keepForPage(r, rec, rt, pt, path, key, cred, held)
		held = nil // kept, or released by keepForPage
	}
	var entry versioncache.Entry
	isRecord := false
	rd, body := h.json, []byte(nil)
	if err == nil && rec.buffered() {
		body = rec.body()
		if rt.inertia != nil {
			if page, ok := inertiaPage(r, rec); ok {
				rd, body = rt.inertia, page
			} else if !isJSON(rec.Header().Get("Content-Type")) {
				body = nil
				if rec.status >= 200 && rec.status < 300 {
					h.obs.Refused(RefusedInertiaPage)
				}
			}
		}
		entry, isRecord = h.entryFrom(rd, body)
		// The record's fields are read from the record itself (its
		// show and write answers), not from a conflict answer's summary.
		if isRecord && rec.status >= 200 && rec.status < 300 {
			entry.Fields = rd.record.fields(h.opts.Printer, body)
		}
		if rd != h.json && !isRecord && rec.status >= 200 && rec.status < 300 {
			h.obs.Refused(RefusedInertiaPage)
		}
	}
	h.authorise(key, cred, rec.status, isRecord)
	if rec.status == http.StatusUnauthorized {
		h.unauthenticated(r, info, "", false)
	}
	if err != nil || !rec.buffered() {
		held.release()
		if rec.buffered() {
			// The app wrote a whole response and then failed: send it as it
			// was, without learning, and let Caddy handle the error.
			_ = rec.writeBuffered()
		}
		if write && rec.status >= 400 {
			h.noteUpstreamConflict(rec.status)
		}
		return err
	}

	source := SourceResponse
	if rec.status == http.StatusConflict || rec.status == http.StatusPreconditionFailed {
		source = SourceConflictResponse
		if write {
			h.obs.UpstreamConflict()
		}
	}
	// Only a JSON record answer is the record: an Inertia page gets no ETag.
	learned, advanced, entry := h.learn(key, rec, entry, isRecord, source, rd == h.json)
	if learned && held != nil {
		held.learned = entry
	}
	held.release()
	ok2xx := rec.status >= 200 && rec.status < 300
	pub := published{tabID: r.Header.Get(HeaderTabID), socketID: r.Header.Get(HeaderSocketID), path: path, pt: pt}
	announce := write && learned && ok2xx && !rec.skipBroadcast &&
		(h.opts.ImportHeader == "" || len(r.Header.Values(h.opts.ImportHeader)) == 0)
	if fol != nil {
		// The write's save, announced as the write would have been: only
		// when the page shows a version newer than the one held when the
		// write went to the app.
		announce = fol.announce && learned && ok2xx && fol.before != "" &&
			versioncache.Compare(entry.Version, fol.before) == versioncache.Newer
		pub = fol.published
	}
	// The model-broadcast form is read from the answer before it is sent
	// (its buffer goes back to the pool then).
	var model *versioncache.ModelEvent
	if announce && rt.spec.Model != nil {
		model = h.modelEvent(rt.spec.Model, key.ID, rd, body)
	}
	h.sendBuffered(rec)
	if announce {
		// The answer goes out before the announcement: delivering to a
		// large channel takes a while, and the writer waits for nobody.
		_ = http.NewResponseController(w).Flush()
	}

	switch {
	case announce:
		h.publish(pub, rt, key, entry, model)
	case advanced:
		h.shareVersion(key, entry)
	}
	return nil
}

// isRedirect reports whether status is one Inertia's XHR follows to the
// next page (302, 303; 301, 307 and 308 alike).
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// keepForPage keeps held, the turn of an Inertia write answered with a
// redirect, for the page the redirect leads to when that page is the same
// record's (same route, same id) and the caller is known; else it
// releases it.
func (h *Handler) keepForPage(r *http.Request, rec *recorder, rt *route, pt *pattern, path string, key versioncache.Key, cred string, held *heldTurn) {
	p, ok := redirectTo(r, rec.Header().Get("Location"))
	if ok && cred != "" {
		if prt, ppt := h.matchRoute(p); prt == rt && ppt.param(p, "id") == key.ID {
			cur, _ := h.store.Get(key)
			h.follows.keep(key, &follow{
				held: held, cred: cred, before: cur.Version,
				announce:  !rec.skipBroadcast && (h.opts.ImportHeader == "" || len(r.Header.Values(h.opts.ImportHeader)) == 0),
				published: published{tabID: r.Header.Get(HeaderTabID), socketID: r.Header.Get(HeaderSocketID), path: path, pt: pt},
			})
			return
		}
	}
	held.release()
}

// guard checks a write that carries the version its client loaded against
// the cache, and takes the record's turn for it. It returns the turn (nil
// when none was taken: no loaded version, or a body it could not read) and
// answered when it answered the write itself (409 from the cache, 503).
//
// With merge (RouteSpec.MergePatches, for a PATCH), a stale write whose
// body's fields nobody changed since its loaded version is not answered:
// inside the turn, against the version current then, it is rewritten to
// carry that version (rewriteLoaded) and goes on to the app, counted.
//
// Without edge, a stale write is not answered (nor merged): it takes its
// turn and goes to the app.
func (h *Handler) guard(w http.ResponseWriter, r *http.Request, key versioncache.Key, cred string, merge, edge bool) (held *heldTurn, answered bool) {
	loaded := h.loadedVersion(r)
	if loaded == "" {
		return nil, false
	}
	// The store never goes back, so a held version newer than the loaded
	// one proves the write stale already: answer it before it queues for
	// the record's turn (and, clustered, for the Redis lock), unless it may
	// merge (decided in the turn).
	if edge && h.auth.get(key, cred) == authAllowed {
		if cur, ok := h.store.Get(key); ok && versioncache.Compare(cur.Version, loaded) == versioncache.Newer {
			if d, bc, bodyOK, lf := h.detail(r, key, loaded, cur); !merge || !bodyOK || !bc.mergeable(lf, cur.Fields) {
				h.answerStale(w, key, loaded, cur, d)
				return nil, true
			}
		}
	}
	// The turn is taken only once the whole body is here, so that a client
	// trickling its body holds nobody but itself; then what keeps the turn
	// is the app's answer, bounded by TurnTimeout. A body over the cap, or
	// one that broke off, goes to the app without a turn, unguarded, as any
	// write whose body is not read (counted).
	if _, whole := laravel.PeekBody(r, h.opts.MaxBodyBytes); !whole {
		h.obs.Refused(RefusedBodyUnread)
		h.debug("conditional write whose body could not be read within max_body_size: passed through without a turn",
			zap.String("type", key.Type), zap.String("id", key.ID))
		return nil, false
	}
	var since time.Time
	if h.opts.Locker != nil {
		since = time.Now()
	}
	t, err := h.turns.acquire(r.Context(), key, h.opts.WriteWait, h.opts.TurnTimeout, h.obs)
	if err != nil {
		h.obs.WriteWaitTimeout()
		if ce := h.log.Check(zap.DebugLevel, "write gave up waiting for its turn"); ce != nil {
			ce.Write(zap.String("type", key.Type), zap.String("id", key.ID), zap.Error(err))
		}
		writeJSON(w, http.StatusServiceUnavailable, nil, busyBody)
		return nil, true
	}
	// With a Locker, the cluster-wide lock inside the local turn, and the
	// newest version any instance learned under it (the event bus may not
	// have brought it here yet).
	var cur versioncache.Entry
	known := false
	if h.opts.Locker != nil {
		latest, ok := h.lockCluster(r, key, t, since)
		if !ok {
			t.release()
			h.obs.WriteWaitTimeout()
			writeJSON(w, http.StatusServiceUnavailable, nil, busyBody)
			return nil, true
		}
		if latest.Version != "" {
			// What the store now holds: latest or newer (the instance
			// that learned it shared it already).
			cur, _ = h.store.Advance(key, latest)
			known = true
		}
	}
	if edge && h.auth.get(key, cred) == authAllowed {
		if !known {
			cur, known = h.store.Get(key)
		}
		if known {
			if o := versioncache.Compare(cur.Version, loaded); o == versioncache.Newer || o == versioncache.Different {
				d, bc, bodyOK, lf := h.detail(r, key, loaded, cur)
				if merge && o == versioncache.Newer && bodyOK && bc.mergeable(lf, cur.Fields) && h.rewriteLoaded(r, cur.Version) {
					h.obs.MergedPatch()
					h.debug("stale PATCH of untouched fields forwarded on the current version",
						zap.String("type", key.Type), zap.String("id", key.ID),
						zap.String("loaded", loaded), zap.String("current", cur.Version))
					return t, false
				}
				t.release()
				h.answerStale(w, key, loaded, cur, d)
				return nil, true
			}
		}
	}
	return t, false
}

// answerStale answers a write whose loaded version the cache proves stale.
func (h *Handler) answerStale(w http.ResponseWriter, key versioncache.Key, loaded string, cur versioncache.Entry, d conflictDetail) {
	h.obs.ConflictFromCache()
	if h.opts.Edge != nil {
		h.opts.Edge.EdgeConflict(key, loaded, cur)
	}
	if ce := h.log.Check(zap.DebugLevel, "stale write answered from cache"); ce != nil {
		ce.Write(zap.String("type", key.Type), zap.String("id", key.ID),
			zap.String("loaded", loaded), zap.String("current", cur.Version))
	}
	h.writeConflict(w, cur, d)
}

// sendBuffered writes the held response to the client. A failed write means
// the client went away: there is nobody to answer and nothing for Caddy's
// error handling to do (the headers are out), so it is only logged.
func (h *Handler) sendBuffered(rec *recorder) {
	if err := rec.writeBuffered(); err != nil {
		if ce := h.log.Check(zap.DebugLevel, "writing the response failed"); ce != nil {
			ce.Write(zap.Error(err))
		}
	}
}

// noteUpstreamConflict counts an app's own conflict answer that was not buffered.
func (h *Handler) noteUpstreamConflict(status int) {
	if status == http.StatusConflict || status == http.StatusPreconditionFailed {
		h.obs.UpstreamConflict()
	}
}

// learnableStatus says which answers are worth buffering: successes (their
// body is the record) and the app's own conflicts (they carry the current
// version).
func learnableStatus(status int) bool {
	return (status >= 200 && status < 300) || status == http.StatusConflict || status == http.StatusPreconditionFailed
}

// learn offers the version read from a buffered response (entry, ok: what
// entryFrom read from its body) to the store and adds an ETag when the app
// set none. learned is false when the body carries no usable version, or
// one older than the store's; advanced is true when the store took it as
// news. The entry it returns carries what the store knows of that version
// (its combined Fields, and Changed).
//
// tag: the answer is the record itself, which the ETag may name.
func (h *Handler) learn(key versioncache.Key, rec *recorder, entry versioncache.Entry, ok bool, source string, tag bool) (learned, advanced bool, _ versioncache.Entry) {
	if !ok {
		if ce := h.log.Check(zap.DebugLevel, "no version in response"); ce != nil {
			ce.Write(zap.String("type", key.Type), zap.String("id", key.ID), zap.Int("status", rec.status))
		}
		return false, false, entry
	}
	h.obs.Learned(source)
	held, advanced := h.store.Advance(key, entry)
	if ce := h.log.Check(zap.DebugLevel, "learned version"); ce != nil {
		ce.Write(zap.String("type", key.Type), zap.String("id", key.ID), zap.String("version", entry.Version),
			zap.Bool("advanced", advanced), zap.String("source", source))
	}
	hdr := rec.Header()
	if _, has := hdr["Etag"]; !has && tag {
		if t, ok := etag(entry.Version); ok {
			hdr["Etag"] = []string{t}
		}
	}
	switch versioncache.Compare(entry.Version, held.Version) {
	case versioncache.Older:
		return false, false, entry
	case versioncache.Same:
		entry.Fields, entry.Changed = held.Fields, held.Changed
	}
	return true, advanced, entry
}

// entryFrom reads version and who-fields from a JSON document where rd
// says they are, within the bounds above (each refusal counted).
func (h *Handler) entryFrom(rd *reader, body []byte) (versioncache.Entry, bool) {
	if len(body) == 0 || rd.version == "" || !gjson.ValidBytes(body) {
		return versioncache.Entry{}, false
	}
	e := versioncache.Entry{Version: versionString(gjson.GetBytes(body, rd.version))}
	if e.Version == "" {
		return e, false
	}
	if len(e.Version) > versioncache.MaxVersionBytes {
		h.obs.Refused(RefusedVersionTooLong)
		return versioncache.Entry{}, false
	}
	if rd.byID != "" {
		if res := gjson.GetBytes(body, rd.byID); res.Type == gjson.Number || res.Type == gjson.String {
			if len(res.Raw) <= versioncache.MaxByIDBytes {
				e.UpdatedByID = res.Raw
			} else {
				h.obs.Refused(RefusedUpdatedByIDTooLong)
			}
		}
	}
	if rd.byName != "" {
		if res := gjson.GetBytes(body, rd.byName); res.Type == gjson.String || res.Type == gjson.Number {
			name := res.String()
			if len(name) > versioncache.MaxNameBytes {
				name = versioncache.TruncateUTF8(name, versioncache.MaxNameBytes)
				h.obs.Refused(RefusedUpdatedByNameTruncated)
			}
			e.UpdatedByName = name
		}
	}
	e.LearnedAt = time.Now()
	return e, true
}

// etag makes the strong entity-tag of a version; a version that contains a
// double quote cannot be one (RFC 9110 §8.8.3).
func etag(v string) (string, bool) {
	if v == "" || strings.IndexByte(v, '"') >= 0 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c == 0x7f {
			return "", false
		}
	}
	return `"` + v + `"`, true
}

// shareVersion hands the Publisher a version learned without a write to
// announce, for the other instances of a cluster.
func (h *Handler) shareVersion(key versioncache.Key, entry versioncache.Entry) {
	if h.opts.Publisher != nil {
		h.opts.Publisher.Saved(versioncache.Saved{Key: key, Entry: entry, VersionOnly: true})
	}
}

// published is what an announcement takes from the write that saved: the
// tab and socket to leave out, and the path (with the pattern it matched)
// the list channels' parameters come from.
type published struct {
	tabID, socketID string
	path            string
	pt              *pattern
}

// publish announces a learned save (and its model-broadcast form, if any).
func (h *Handler) publish(p published, rt *route, key versioncache.Key, entry versioncache.Entry, model *versioncache.ModelEvent) {
	if h.opts.Publisher == nil {
		return
	}
	var lists []versioncache.List
	if len(rt.lists) > 0 {
		params := p.pt.params(p.path)
		lists = make([]versioncache.List, len(rt.lists))
		for i := range rt.lists {
			lists[i] = rt.lists[i].resolve(params)
		}
	}
	s := versioncache.Saved{
		Key:      key,
		Entry:    entry,
		Lists:    lists,
		TabID:    p.tabID,
		SocketID: p.socketID,
		Model:    model,
	}
	h.opts.Publisher.Saved(s)
}

// writeConflict answers a stale write from the cache: the current version
// and who saved it, and what d knows of the fields (changed_fields since
// the caller's version, your_fields that its body changes,
// overlapping_fields in both).
func (h *Handler) writeConflict(w http.ResponseWriter, cur versioncache.Entry, d conflictDetail) {
	b := make([]byte, 0, 256)
	b = append(b, `{"success":false,"message":"`+MessageConflict+`","data":`...)
	b = appendVersionData(b, cur)
	b = b[:len(b)-1] // the data object stays open for the fields
	b = appendNames(b, "changed_fields", d.changed)
	b = appendNames(b, "your_fields", d.yours)
	b = appendNames(b, "overlapping_fields", d.overlap)
	b = append(b, '}', '}')
	writeJSON(w, h.opts.ConflictStatus, func(hdr http.Header) {
		if tag, ok := etag(cur.Version); ok {
			hdr["Etag"] = []string{tag}
		}
		hdr[HeaderCache] = []string{"hit"}
	}, b)
}

// appendVersionData appends {"updated_at":...,"updated_by_id":...,"updated_by_name":...}.
func appendVersionData(b []byte, e versioncache.Entry) []byte {
	b = append(b, `{"updated_at":`...)
	b = pusher.AppendJSONString(b, e.Version)
	b = append(b, `,"updated_by_id":`...)
	if e.UpdatedByID != "" && gjson.Valid(e.UpdatedByID) {
		b = append(b, e.UpdatedByID...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"updated_by_name":`...)
	if e.UpdatedByName != "" {
		b = pusher.AppendJSONString(b, e.UpdatedByName)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

var busyBody = []byte(`{"success":false,"message":"` + MessageBusy + `"}`)

// writeJSON writes a JSON answer of recordsync's own.
func writeJSON(w http.ResponseWriter, status int, headers func(http.Header), body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Content-Length"] = []string{itoa(len(body))}
	if headers != nil {
		headers(hdr)
	}
	w.WriteHeader(status)
	if status != http.StatusNotModified {
		_, _ = w.Write(body)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
