package proxy

import (
	"net/http"
	"strings"

	"github.com/recordsync/recordsync/versioncache"
	"go.uber.org/zap"
)

// servePoll handles a GET of the version endpoint for a configured type.
// An authorised caller is answered from the cache (200, or 304 for a
// matching If-None-Match); a caller the app denied gets the remembered
// 401/403; everyone else, and every cache miss, goes upstream and is learned
// from. The app's answer authorises the caller only when it is the record's
// version (JSON with the version at VersionField), as any record answer.
func (h *Handler) servePoll(w http.ResponseWriter, r *http.Request, info RequestInfo, next Next, rt *route) error {
	key := versioncache.Key{Tenant: info.Tenant, Type: rt.spec.Type, ID: h.poll.param(r.URL.Path, "id")}
	cred := h.credentialID(r, info)
	switch h.auth.get(key, cred) {
	case authAllowed:
		if cur, ok := h.store.Get(key); ok {
			h.notePoll(key, true)
			if ce := h.log.Check(zap.DebugLevel, "poll answered from cache"); ce != nil {
				ce.Write(zap.String("type", key.Type), zap.String("id", key.ID))
			}
			h.writeVersion(w, r, cur)
			return nil
		}
	case authUnauthorised:
		h.notePoll(key, true)
		writeJSON(w, http.StatusUnauthorized, cacheHit, unauthenticatedBody)
		return nil
	case authForbidden:
		h.notePoll(key, true)
		writeJSON(w, http.StatusForbidden, cacheHit, forbiddenBody)
		return nil
	}

	h.notePoll(key, false)
	if ce := h.log.Check(zap.DebugLevel, "poll passed upstream"); ce != nil {
		ce.Write(zap.String("type", key.Type), zap.String("id", key.ID), zap.Bool("credential", cred != ""))
	}
	r.Header.Del("Accept-Encoding")
	rec := newRecorder(w, h.opts.MaxBodyBytes, isSuccess)
	rec.beforeHeader = cacheMiss
	err := next(rec, r)
	var entry versioncache.Entry
	isRecord := false
	if err == nil && rec.buffered() {
		entry, isRecord = h.entryFrom(h.json, rec.body())
	}
	h.authorise(key, cred, rec.status, isRecord)
	if rec.status == http.StatusUnauthorized {
		h.unauthenticated(r, info, "", false)
	}
	if !rec.buffered() {
		return err
	}
	if err != nil {
		// A whole answer, then a failure: sent as it was, not learned.
		_ = rec.writeBuffered()
		return err
	}
	if _, advanced, _ := h.learn(key, rec, entry, isRecord, SourcePoll, true); advanced {
		h.shareVersion(key, entry)
	}
	h.sendBuffered(rec)
	return nil
}

func isSuccess(status int) bool { return status >= 200 && status < 300 }

func cacheHit(h http.Header)  { h[HeaderCache] = []string{"hit"} }
func cacheMiss(h http.Header) { h[HeaderCache] = []string{"miss"} }

var (
	unauthenticatedBody = []byte(`{"success":false,"message":"` + MessageUnauthenticated + `"}`)
	forbiddenBody       = []byte(`{"success":false,"message":"` + MessageForbidden + `"}`)
)

// writeVersion answers a poll from the cache in the app's successResponse
// shape ({"success":true,"data":{...}}), or 304 when If-None-Match names the
// current version.
func (h *Handler) writeVersion(w http.ResponseWriter, r *http.Request, cur versioncache.Entry) {
	tag, hasTag := etag(cur.Version)
	headers := func(hdr http.Header) {
		if hasTag {
			hdr["Etag"] = []string{tag}
		}
		hdr["Cache-Control"] = []string{"no-cache"}
		hdr[HeaderCache] = []string{"hit"}
	}
	if hasTag && noneMatch(r.Header.Values("If-None-Match"), cur.Version) {
		hdr := w.Header()
		headers(hdr)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	b := make([]byte, 0, 160)
	b = append(b, `{"success":true,"data":`...)
	b = appendVersionData(b, cur)
	b = append(b, '}')
	writeJSON(w, http.StatusOK, headers, b)
}

// noneMatch reports whether an If-None-Match list matches version with the
// weak comparison (RFC 9110 §13.1.2): "*", or any member equal to it with or
// without W/.
func noneMatch(values []string, version string) bool {
	for _, v := range values {
		for v != "" {
			tag := firstETag(v)
			if tag == "" {
				break
			}
			if tag == "*" || bare(tag) == version {
				return true
			}
			i := strings.Index(v, tag)
			if i < 0 {
				break
			}
			v = v[i+len(tag):]
			v = strings.TrimLeft(v, " \t,")
		}
	}
	return false
}

// notePoll counts a version poll and tells the Edge observer of it.
func (h *Handler) notePoll(key versioncache.Key, fromCache bool) {
	h.obs.Poll(fromCache)
	if h.opts.Edge != nil {
		h.opts.Edge.EdgePoll(key, fromCache)
	}
}
