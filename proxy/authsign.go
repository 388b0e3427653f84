package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// Signer signs a channel subscription for a socket: the realtime hub
// implements it. It must return ok only for an open socket of tenant, and
// sign exactly socketID:channel (private) or socketID:channel:channelData
// (presence) with the current app credentials.
type Signer interface {
	Sign(tenant, socketID, channel, channelData string) (auth string, ok bool)
}

// Results passed to Observer.AuthSignature.
const (
	// AuthSigned: recordsync signed the app's unsigned grant.
	AuthSigned = "signed"
	// AuthRefused: the app granted, but recordsync would not sign (the
	// socket is not an open one of the request's tenant, or the presence
	// channel_data is unusable); the answer went through unsigned.
	AuthRefused = "refused"
	// AuthPassed: the answer went through as the app gave it (already
	// signed, a refusal, anything else, or a request not signable).
	AuthPassed = "passed"
)

// Bounds of the channel authorisation exchange.
const (
	// maxAuthRequestBytes bounds the auth request body read for socket_id
	// and channel_name (pusher-js sends some 60 bytes); a larger body passes
	// through and its answer is not signed.
	maxAuthRequestBytes = 8 << 10
	// maxAuthAnswerBytes bounds the app's answer held for signing.
	maxAuthAnswerBytes = 64 << 10
)

// isAuthRequest reports whether r is a POST to the app's channel
// authorisation endpoint while signing is on.
func (h *Handler) isAuthRequest(r *http.Request) bool {
	return h.authPath != "" && r.Method == http.MethodPost && r.URL.Path == h.authPath
}

// serveAuth handles a POST to the auth endpoint (issue 4 §4). The app
// decides, as always, through routes/channels.php; recordsync only completes
// an answer that grants the channel but carries no signature — Laravel's
// redis broadcaster answers `true` (private) or {"channel_data":{...}}
// (presence) where pusher-js needs {"auth":"key:sig"[,"channel_data":"..."]}.
//
// Signed only: a 2xx answer of one of those two forms, matching the kind of
// the request's channel_name, for the request's own socket_id and
// channel_name, read exactly as Laravel reads them (no duplicates or PHP
// aliases of the two fields, none in the query string), and only when the
// Signer knows that socket id as an open socket of the request's tenant. A
// presence answer's channel_data is serialised once (compacted, keys and
// numbers as the app wrote them) and that string is both signed and sent.
// Everything else — an already signed answer, a non-2xx, any other body —
// passes through untouched. The request body reaches the app byte for byte.
func (h *Handler) serveAuth(w http.ResponseWriter, r *http.Request, info RequestInfo, next Next) error {
	if info.Tenanted && info.Tenant == "" {
		h.obs.TenantMissing()
		return next(w, r)
	}
	socketID, channel, err := readAuthRequest(r, maxAuthRequestBytes)
	if err != nil {
		h.debug("auth request not signable: passed through", zap.Error(err))
		h.obs.AuthSignature(AuthPassed)
		return next(w, r)
	}
	r.Header.Del("Accept-Encoding")
	rec := newRecorder(w, maxAuthAnswerBytes, isSuccess)
	rec.anyType = true
	err = next(rec, r)
	if err != nil || !rec.buffered() {
		if rec.buffered() {
			_ = rec.writeBuffered()
		}
		h.obs.AuthSignature(AuthPassed)
		return err
	}
	channelData, kind := parseAuthAnswer(rec.body())
	switch {
	case kind == answerPrivate && strings.HasPrefix(channel, "private-") && !strings.HasPrefix(channel, "private-encrypted-"):
	case kind == answerPresence && strings.HasPrefix(channel, "presence-"):
	default:
		h.obs.AuthSignature(AuthPassed)
		h.sendBuffered(rec)
		return nil
	}
	auth, ok := h.opts.Signer.Sign(info.Tenant, socketID, channel, channelData)
	if !ok {
		h.debug("auth answer not signed: socket unknown to this tenant or data refused", zap.String("channel", channel))
		h.obs.AuthSignature(AuthRefused)
		h.sendBuffered(rec)
		return nil
	}
	h.obs.AuthSignature(AuthSigned)
	b := make([]byte, 0, 96+len(channelData)*11/10)
	b = append(b, `{"auth":`...)
	b = appendJSONString(b, auth)
	if kind == answerPresence {
		b = append(b, `,"channel_data":`...)
		b = appendJSONString(b, channelData)
	}
	b = append(b, '}')
	h.debug("signed the app's channel authorisation", zap.String("channel", channel))
	if err := rec.replaceBody("application/json", b); err != nil {
		h.debug("writing the response failed", zap.Error(err))
	}
	return nil
}

// replaceBody sends the held status and headers with body instead of the
// held one; validators of the old body are dropped.
func (rec *recorder) replaceBody(contentType string, body []byte) error {
	hdr := rec.w.Header()
	for _, k := range []string{"Etag", "Last-Modified", "Content-Md5", "Digest", "Content-Range"} {
		delete(hdr, k)
	}
	hdr["Content-Type"] = []string{contentType}
	hdr["Content-Length"] = []string{itoa(len(body))}
	rec.buffering = false
	rec.release()
	rec.w.WriteHeader(rec.status)
	_, err := rec.w.Write(body)
	return err
}

// Reasons an auth request is not signable; they are only logged.
var (
	errAuthBodyTooLarge = errors.New("body over the limit")
	errAuthContentType  = errors.New("neither form-encoded nor JSON")
	errAuthQuery        = errors.New("socket_id or channel_name in the query string")
	errAuthFields       = errors.New("socket_id and channel_name must each appear exactly once, as strings")
	errAuthSocketID     = errors.New(`socket_id is not "N.N"`)
)

// readAuthRequest reads socket_id and channel_name from the body of an auth
// request and puts the body back, byte for byte, for the app. It reads them
// the way Laravel will, so that what recordsync signs is what the app
// authorised: a JSON body when the Content-Type contains "/json" or "+json"
// (Laravel's isJson), otherwise only application/x-www-form-urlencoded.
// Anything ambiguous is refused rather than guessed: either field twice (PHP
// keeps the last), a field PHP would also fill (channel.name, channel name,
// channel_name[]...), or either field in the query string (Laravel falls
// back to it).
func readAuthRequest(r *http.Request, limit int64) (socketID, channel string, err error) {
	if q := r.URL.RawQuery; q != "" {
		for _, kv := range strings.Split(q, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if k, err := url.QueryUnescape(k); err != nil || phpFieldBase(k) == "socket_id" || phpFieldBase(k) == "channel_name" {
				return "", "", errAuthQuery
			}
		}
	}
	ct := r.Header.Get("Content-Type")
	isJSONBody := strings.Contains(ct, "/json") || strings.Contains(ct, "+json")
	if !isJSONBody {
		mt, _, perr := mime.ParseMediaType(ct)
		if perr != nil || mt != "application/x-www-form-urlencoded" {
			return "", "", errAuthContentType
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return "", "", errAuthFields
	}
	body, rerr := io.ReadAll(io.LimitReader(r.Body, limit+1))
	// Put back what was read in front of the rest, whatever happens next.
	r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if rerr != nil {
		return "", "", rerr
	}
	if int64(len(body)) > limit {
		return "", "", errAuthBodyTooLarge
	}
	if isJSONBody {
		socketID, channel, err = authFieldsJSON(body)
	} else {
		socketID, channel, err = authFieldsForm(string(body))
	}
	if err != nil {
		return "", "", err
	}
	if !validSocketID(socketID) {
		return "", "", errAuthSocketID
	}
	return socketID, channel, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// phpFieldBase is the name PHP files a form field under, up to any array
// brackets: leading spaces dropped, a NUL ends it, and ' ' and '.' become
// '_' (PHP's variable name mangling).
func phpFieldBase(k string) string {
	k = strings.TrimLeft(k, " ")
	if i := strings.IndexByte(k, 0); i >= 0 {
		k = k[:i]
	}
	if i := strings.IndexByte(k, '['); i >= 0 {
		k = k[:i]
	}
	return strings.NewReplacer(" ", "_", ".", "_").Replace(k)
}

func authFieldsForm(body string) (socketID, channel string, err error) {
	nSocket, nChannel := 0, 0
	for _, kv := range strings.Split(body, "&") {
		if kv == "" {
			continue
		}
		rk, rv, _ := strings.Cut(kv, "=")
		k, err1 := url.QueryUnescape(rk)
		v, err2 := url.QueryUnescape(rv)
		if err1 != nil || err2 != nil {
			return "", "", errAuthFields
		}
		switch base := phpFieldBase(k); {
		case base != "socket_id" && base != "channel_name":
			continue
		case k == "socket_id":
			socketID = v
			nSocket++
		case k == "channel_name":
			channel = v
			nChannel++
		default:
			return "", "", errAuthFields // an alias PHP would also fill
		}
	}
	if nSocket != 1 || nChannel != 1 {
		return "", "", errAuthFields
	}
	return socketID, channel, nil
}

func authFieldsJSON(body []byte) (socketID, channel string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", "", errAuthFields
	}
	nSocket, nChannel := 0, 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", "", errAuthFields
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", "", errAuthFields
		}
		var dst *string
		switch key {
		case "socket_id":
			dst = &socketID
			nSocket++
		case "channel_name":
			dst = &channel
			nChannel++
		default:
			continue
		}
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return "", "", errAuthFields
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", "", errAuthFields
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "", errAuthFields // trailing data
	}
	if nSocket != 1 || nChannel != 1 {
		return "", "", errAuthFields
	}
	return socketID, channel, nil
}

// validSocketID reports whether s is "digits.digits", the only socket id
// form Pusher servers issue.
func validSocketID(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	return ok && len(s) <= 32 && allDigits(a) && allDigits(b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// authAnswer is what an app's 2xx auth answer is, for signing.
type authAnswer int

const (
	// answerOther: anything recordsync does not sign (already signed,
	// false, null, an error page, ...).
	answerOther authAnswer = iota
	// answerPrivate: `true`, the redis broadcaster's grant of a private channel.
	answerPrivate
	// answerPresence: {"channel_data":...} without "auth", the redis
	// broadcaster's grant of a presence channel.
	answerPresence
)

// parseAuthAnswer classifies an app's auth answer. For a presence grant it
// returns the channel_data to sign and send: an object is compacted (its
// keys, order and number literals kept), a string is taken as it is; either
// must be a JSON object. An object answer with "auth", or with a key twice,
// is answerOther.
func parseAuthAnswer(body []byte) (channelData string, kind authAnswer) {
	body = bytes.TrimSpace(body)
	if string(body) == "true" {
		return "", answerPrivate
	}
	if len(body) == 0 || body[0] != '{' {
		return "", answerOther
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || hasDuplicateKeys(body) {
		return "", answerOther
	}
	if _, signed := m["auth"]; signed {
		return "", answerOther
	}
	raw := bytes.TrimSpace(m["channel_data"])
	if len(raw) == 0 {
		return "", answerOther
	}
	var cd []byte
	switch raw[0] {
	case '{':
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return "", answerOther
		}
		cd = b.Bytes()
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", answerOther
		}
		cd = []byte(s)
		var obj map[string]json.RawMessage
		if json.Unmarshal(cd, &obj) != nil || obj == nil {
			return "", answerOther
		}
	default:
		return "", answerOther
	}
	return string(cd), answerPresence
}

// hasDuplicateKeys reports whether the top-level JSON object b has a key
// twice (PHP and Go would read different values).
func hasDuplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return true
		}
		k, _ := tok.(string)
		if seen[k] {
			return true
		}
		seen[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return true
		}
	}
	return false
}
