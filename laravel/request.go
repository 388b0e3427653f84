package laravel

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/recordsync/recordsync/pusher"
)

// How PHP and Laravel read a request. recordsync signs the channel grants
// and guards the writes the app decided on, so it must read a request's
// fields and method as PHP and Laravel did, or not at all. Each reader here
// follows the PHP, Symfony or Laravel source it names, and
// php_differential_test.go holds them against the real php-fpm and Laravel.

// phpMaxInputVars is PHP's default max_input_vars: a body or query string
// with more fields is cut short by PHP, so recordsync does not read it.
const phpMaxInputVars = 1000

// phpJSONMaxDepth: json_decode($s, true) with its default depth of 512
// fails on 512 or more nested arrays and objects (ext/json, checked against
// php-cli 8.2).
const phpJSONMaxDepth = 511

// phpField is a form or query field as PHP registers it.
type phpField struct {
	// raw is the name as sent, url-decoded.
	raw string
	// name is the top-level variable name (see phpVarName).
	name string
	// array: the field fills an array under name (name[] or name[key]).
	array bool
	// value is the url-decoded value.
	value string
}

// phpURLDecode is PHP's urldecode (ext/standard/url.c, php_url_decode):
// '+' is a space, '%' and two hex digits a byte, any other '%' stays as it is.
func phpURLDecode(s string) string { return phpDecode(s, true) }

// phpRawURLDecode is PHP's rawurldecode: phpURLDecode without the '+'.
func phpRawURLDecode(s string) string { return phpDecode(s, false) }

func phpDecode(s string, plus bool) string {
	if strings.IndexByte(s, '%') < 0 && (!plus || strings.IndexByte(s, '+') < 0) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+' && plus:
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// phpVarName is the top-level name PHP files a field of (url-decoded) name
// raw under, as php_register_variable_ex (main/php_variables.c) does: a NUL
// ends the name; leading spaces are dropped; before the first '[', ' ' and
// '.' become '_'; a '[' with a ']' somewhere after it makes an array of the
// name before it; a '[' without one becomes '_', and so does every later
// ' ', '.' and '['. ok is false when PHP drops the field (an empty name).
//
//	channel.name → channel_name     channel[name → channel_name
//	channel_name[] → channel_name, array     [x]=1 → dropped
func phpVarName(raw string) (name string, array, ok bool) {
	if i := strings.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	raw = strings.TrimLeft(raw, " ")
	base, rest, bracket := strings.Cut(raw, "[")
	base = phpUnderscores(base, " .")
	if base == "" {
		return "", false, false
	}
	if !bracket {
		return base, false, true
	}
	if strings.IndexByte(rest, ']') >= 0 {
		return base, true, true
	}
	return base + "_" + phpUnderscores(rest, " .["), false, true
}

// phpUnderscores replaces each byte of s that is in set by '_'.
func phpUnderscores(s, set string) string {
	if !strings.ContainsAny(s, set) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if strings.IndexByte(set, c) >= 0 {
			b[i] = '_'
		}
	}
	return string(b)
}

// phpPostFields parses an application/x-www-form-urlencoded body as PHP
// fills $_POST (main/php_variables.c, add_post_var): fields split at every
// '&' (an empty one counts toward max_input_vars and is dropped), name and
// value at the first '='. ok is false past max_input_vars.
func phpPostFields(body string) (fields []phpField, ok bool) {
	n := 0
	for body != "" {
		seg, rest, _ := strings.Cut(body, "&")
		body = rest
		if n++; n > phpMaxInputVars {
			return nil, false
		}
		fields = appendPHPField(fields, seg)
	}
	return fields, true
}

// phpQueryFields parses a query string as PHP fills $_GET
// (main/php_variables.c, php_default_treat_data): like phpPostFields, but
// empty fields between '&'s are skipped without counting.
func phpQueryFields(query string) (fields []phpField, ok bool) {
	n := 0
	for _, seg := range strings.Split(query, "&") {
		if seg == "" {
			continue
		}
		if n++; n > phpMaxInputVars {
			return nil, false
		}
		fields = appendPHPField(fields, seg)
	}
	return fields, true
}

func appendPHPField(fields []phpField, seg string) []phpField {
	k, v, _ := strings.Cut(seg, "=")
	raw := phpURLDecode(k)
	name, array, ok := phpVarName(raw)
	if !ok {
		return fields
	}
	return append(fields, phpField{raw: raw, name: name, array: array, value: phpURLDecode(v)})
}

// phpLast returns the field PHP keeps under name: the last one (a later
// scalar replaces an array and the other way round). found is false when
// no field has that name.
func phpLast(fields []phpField, name string) (f phpField, found bool) {
	for i := len(fields) - 1; i >= 0; i-- {
		if fields[i].name == name {
			return fields[i], true
		}
	}
	return phpField{}, false
}

// phpContentType is the media type PHP's SAPI picks the body parser by
// (main/SAPI.c, sapi_read_post_data): lower-cased and cut at the first ';',
// ',' or space. PHP fills $_POST only for application/x-www-form-urlencoded
// and multipart/form-data.
func phpContentType(ct string) string {
	if i := strings.IndexAny(ct, ";, "); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(ct)
}

// laravelIsJSON is Laravel's Request::isJson (Illuminate/Http/Concerns/
// InteractsWithContentTypes.php): the Content-Type contains "/json" or
// "+json", case-sensitively. Such a request's body input is its JSON.
func laravelIsJSON(ct string) bool {
	return strings.Contains(ct, "/json") || strings.Contains(ct, "+json")
}

// phpHeader returns the one value PHP sees for the request header name
// through FastCGI: Caddy's fastcgi transport (and php-fpm's CGI variables)
// turn every header field into HTTP_{NAME} with '-' → '_' upper-cased, so
// X-Foo and X_Foo land in the same variable, the winner depending on map
// order. ok is false when that is ambiguous (two spellings, or a field
// given twice); a missing header is "", true.
func phpHeader(h http.Header, name string) (value string, ok bool) {
	want := cgiName(name)
	found := false
	for k, v := range h {
		if cgiName(k) != want {
			continue
		}
		if found || len(v) != 1 {
			return "", false
		}
		found, value = true, v[0]
	}
	return value, true
}

// BearerToken is what Laravel's Request::bearerToken
// (Illuminate/Http/Concerns/InteractsWithInput.php) returns: the
// Authorization header as PHP sees it through FastCGI (repeated fields
// joined with ", ", as Caddy's fastcgi transport joins them), after its last
// "Bearer ", up to a comma. ok is false when Laravel returns null (no
// "Bearer " in it), and when PHP's reading is ambiguous (the header under
// two spellings of its CGI name).
func BearerToken(h http.Header) (token string, ok bool) {
	var header string
	found := false
	for k, v := range h {
		if cgiName(k) != "AUTHORIZATION" {
			continue
		}
		if found {
			return "", false
		}
		found, header = true, strings.Join(v, ", ")
	}
	i := strings.LastIndex(header, "Bearer ")
	if i < 0 {
		return "", false
	}
	token = header[i+len("Bearer "):]
	if c := strings.IndexByte(token, ','); c >= 0 {
		token = token[:c]
	}
	return token, true
}

func cgiName(k string) string {
	return strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
}

// phpJSON is a JSON body as Laravel's JSON input holds it.
type phpJSON struct {
	// members are the top-level object's members, the last of a repeated
	// key winning (as in PHP); nil when the body is not an object.
	members map[string]json.RawMessage
	// repeated names the keys that appear more than once.
	repeated map[string]bool
}

// phpJSONObject decodes body as Laravel's JSON input does
// (json_decode($content, true), cast to an array). decoded is false when
// PHP's decoder fails, which Laravel takes silently as an empty input:
// invalid UTF-8, an unpaired UTF-16 surrogate escape, nesting deeper than
// phpJSONMaxDepth, or any syntax error. An empty body is Laravel's '[]'.
func phpJSONObject(body []byte) (obj phpJSON, decoded bool) {
	if len(body) == 0 || string(body) == "0" { // Laravel: getContent() ?: '[]'
		return obj, true
	}
	if !utf8.Valid(body) || !json.Valid(body) || !phpJSONEscapesAndDepth(body) {
		return obj, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return obj, true
	}
	obj.members = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return phpJSON{}, false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return phpJSON{}, false
		}
		if _, dup := obj.members[key]; dup {
			if obj.repeated == nil {
				obj.repeated = map[string]bool{}
			}
			obj.repeated[key] = true
		}
		obj.members[key] = raw
	}
	return obj, true
}

// phpJSONEscapesAndDepth checks, on valid JSON, what Go's decoder accepts
// and PHP's refuses: nesting over phpJSONMaxDepth, and \u escapes of a
// UTF-16 surrogate that are not a high one followed by a low one.
func phpJSONEscapesAndDepth(b []byte) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '[', '{':
			if depth++; depth > phpJSONMaxDepth {
				return false
			}
		case ']', '}':
			depth--
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] != '\\' {
					continue
				}
				i++
				if b[i] != 'u' {
					continue
				}
				r := hex4(b[i+1 : i+5])
				i += 4
				switch {
				case r >= 0xDC00 && r <= 0xDFFF:
					return false // a low surrogate alone
				case r >= 0xD800 && r <= 0xDBFF:
					if i+6 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
						return false
					}
					if lo := hex4(b[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
						return false
					}
					i += 6
				}
			}
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r = r<<4 | rune(unhex(c))
	}
	return r
}

// Method is the method Laravel routes r as (certain is false when part of
// the request could not be read as PHP reads it; method is then what the
// readable part says): Symfony's
// Request::getMethod (HttpFoundation/Request.php) with the parameter
// override Laravel turns on in Request::capture, and the JSON body Laravel's
// createFromBase puts in its place for isJson requests. Only a POST is
// overridden: by the X-HTTP-Method-Override header, or, when that is
// missing, "" or "0", by a string _method in the body input (the JSON
// object for isJson, else what PHP parsed into $_POST), else in the query
// string. The result is upper-cased as PHP's strtoupper does (ASCII only).
// The body, read up to max, is put back byte for byte.
func Method(r *http.Request, max int64) (method string, certain bool) {
	if r.Method != http.MethodPost {
		return r.Method, true
	}
	hv, ok := phpHeader(r.Header, "X-HTTP-Method-Override")
	if !ok {
		return http.MethodPost, false
	}
	if hv != "" && hv != "0" {
		return asciiUpper(hv), true
	}
	v, found, certain := bodyMethodParam(r, max)
	if !found {
		fields, ok := phpQueryFields(r.URL.RawQuery)
		certain = certain && ok
		if f, has := phpLast(fields, "_method"); has {
			v, found = f, true
		}
	}
	if !found || v.array {
		return http.MethodPost, certain
	}
	return asciiUpper(v.value), certain
}

// bodyMethodParam finds _method in r's body input as Laravel has it (see
// Method). A JSON value that is not a string is reported as an
// array: either way it is not a method.
func bodyMethodParam(r *http.Request, max int64) (f phpField, found, certain bool) {
	ct, ok := phpHeader(r.Header, "Content-Type")
	if !ok {
		return phpField{}, false, false
	}
	mt := phpContentType(ct)
	isJSON := laravelIsJSON(ct)
	if !isJSON && mt != "application/x-www-form-urlencoded" && mt != "multipart/form-data" {
		return phpField{}, false, true // $_POST stays empty
	}
	body, complete := PeekBody(r, max)
	if !complete {
		return phpField{}, false, false
	}
	switch {
	case isJSON:
		obj, decoded := phpJSONObject(body)
		if !decoded {
			return phpField{}, false, true // empty input: the query decides
		}
		raw, has := obj.members["_method"]
		if !has {
			return phpField{}, false, true
		}
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return phpField{array: true}, true, true
		}
		return phpField{name: "_method", value: s}, true, true
	case mt == "application/x-www-form-urlencoded":
		fields, ok := phpPostFields(string(body))
		f, found = phpLast(fields, "_method")
		return f, found, ok
	default:
		return multipartMethodParam(ct, body)
	}
}

// multipartMethodParam reads _method from a multipart/form-data body. PHP's
// own parser (main/rfc1867.c) and Go's agree on the bodies browsers send;
// anything else (an unusual boundary, a part Go cannot read, a part whose
// name mentions "method" that Go does not read as one) is not certain.
func multipartMethodParam(ct string, body []byte) (f phpField, found, certain bool) {
	_, params, err := mime.ParseMediaType(ct)
	boundary := params["boundary"]
	if err != nil || boundary == "" || strings.Count(strings.ToLower(ct), "boundary") != 1 {
		return phpField{}, false, false
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	certain = true
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return f, found, certain
		}
		if err != nil {
			return f, found, false
		}
		disp := p.Header.Values("Content-Disposition")
		name, array, ok := phpVarName(p.FormName())
		switch {
		case ok && name == "_method" && p.FileName() == "":
			v, err := io.ReadAll(p)
			if err != nil || len(disp) != 1 {
				return f, found, false
			}
			f, found = phpField{raw: p.FormName(), name: name, array: array, value: string(v)}, true
		case !ok && strings.Contains(strings.ToLower(strings.Join(disp, ",")), "method"):
			// A name Go could not read that may be PHP's _method.
			certain = false
		}
	}
}

// asciiUpper is PHP 8's strtoupper: ASCII letters only.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// PeekBody reads r's body up to max and puts what it read back in front of
// the rest, so the next handler reads it byte for byte. complete is false
// when the body is larger than max or could not be read.
func PeekBody(r *http.Request, max int64) (body []byte, complete bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > max {
		return nil, false
	}
	if rb, ok := r.Body.(restoredBody); ok && rb.whole != nil && rb.Reader.(*bytes.Reader).Len() == len(rb.whole) {
		// Already read to its end and not read from since: no second copy.
		if int64(len(rb.whole)) > max {
			return nil, false
		}
		return rb.whole, true
	}
	orig := r.Body
	b, err := io.ReadAll(io.LimitReader(orig, max+1))
	if err != nil || int64(len(b)) > max {
		// Over the cap or broken: hand on what was read, then the rest
		// (or the same error) from the original body.
		r.Body = restoredBody{Reader: io.MultiReader(bytes.NewReader(b), orig), Closer: orig}
		return nil, false
	}
	if b == nil {
		b = []byte{}
	}
	r.Body = restoredBody{Reader: bytes.NewReader(b), Closer: orig, whole: b}
	return b, true
}

// restoredBody is a request body put back after inspection; Close closes
// the original.
type restoredBody struct {
	io.Reader
	io.Closer
	// whole is the entire body when it was read to its end (Reader is then
	// a *bytes.Reader over it); nil when only a part was.
	whole []byte
}

// RoutePath is the path Laravel's router matches for u: Symfony's
// Request::getPathInfo drops the front controller "/index.php" when the
// request names it, and Laravel's UriValidator
// (Illuminate/Routing/Matching/UriValidator.php) trims trailing slashes of
// the raw path, then rawurldecodes it. So "/broadcasting/auth/" and
// "/index.php/broadcasting/auth" reach the same route as
// "/broadcasting/auth", and "/broadcasting/auth%2F" does not.
func RoutePath(u *url.URL) string {
	path := phpRawURLDecode(strings.TrimRight(u.EscapedPath(), "/"))
	if rest, ok := strings.CutPrefix(path, "/index.php"); ok && (rest == "" || rest[0] == '/') {
		path = strings.TrimRight(rest, "/")
	}
	if path == "" {
		return "/"
	}
	return path
}

// Reasons ReadAuthRequest does not read a request; they are only logged.
var (
	errAuthMethod       = errors.New("not a POST: the fields would come from the query string")
	errAuthBodyTooLarge = errors.New("body over the limit")
	errAuthContentType  = errors.New("neither form-encoded nor JSON, or Content-Type given twice")
	errAuthQuery        = errors.New("a query string (Laravel reads fields missing from the body there)")
	errAuthJSON         = errors.New("JSON that PHP's json_decode refuses, or not an object")
	errAuthFields       = errors.New("socket_id and channel_name must each appear exactly once, as strings, under no other name PHP reads as theirs")
	errAuthSocketID     = errors.New(`socket_id is not "N.N"`)
)

// ReadAuthRequest reads socket_id and channel_name from an auth request
// and puts the body back, byte for byte, for the app. It reads them only
// where it can prove that PHP and Laravel read the same two values
// (phpinput.go): a POST without a query string
// (Laravel takes a field missing from the body from the query); one
// Content-Type; a JSON body when Laravel's isJson says so, decoded only
// where PHP's json_decode would decode it, else a body PHP parses as
// application/x-www-form-urlencoded; each field exactly once, as a string,
// and no other field that PHP files under either name (channel.name,
// channel[name, channel_name[]...).
func ReadAuthRequest(r *http.Request, limit int64) (socketID, channel string, err error) {
	f, err := readAuthFields(r, limit, "socket_id", "channel_name")
	if err != nil {
		return "", "", err
	}
	return f[0], f[1], nil
}

// ReadUserAuthRequest reads the socket_id of a user authentication request
// (pusher-js's POST to /broadcasting/user-auth, Laravel's
// BroadcastController::authenticateUser reading $request->socket_id) under
// the same rules as ReadAuthRequest.
func ReadUserAuthRequest(r *http.Request, limit int64) (socketID string, err error) {
	f, err := readAuthFields(r, limit, "socket_id")
	if err != nil {
		return "", err
	}
	return f[0], nil
}

// readAuthFields reads the named string fields of an auth request, each
// exactly once, as PHP and Laravel read them; the first is the socket_id.
func readAuthFields(r *http.Request, limit int64, names ...string) ([]string, error) {
	if r.Method != http.MethodPost {
		return nil, errAuthMethod
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return nil, errAuthQuery
	}
	ct, ok := phpHeader(r.Header, "Content-Type")
	if !ok {
		return nil, errAuthContentType
	}
	isJSONBody := laravelIsJSON(ct)
	if !isJSONBody && phpContentType(ct) != "application/x-www-form-urlencoded" {
		return nil, errAuthContentType
	}
	body, complete := PeekBody(r, limit)
	if !complete {
		return nil, errAuthBodyTooLarge
	}
	var f []string
	var err error
	if isJSONBody {
		f, err = authFieldsJSON(body, names)
	} else {
		f, err = authFieldsForm(string(body), names)
	}
	if err != nil {
		return nil, err
	}
	if !pusher.ValidSocketID(f[0]) {
		return nil, errAuthSocketID
	}
	return f, nil
}

// authFieldsForm reads the named fields of a form body as PHP fills $_POST.
func authFieldsForm(body string, names []string) ([]string, error) {
	fields, ok := phpPostFields(body)
	if !ok {
		return nil, errAuthFields
	}
	out := make([]string, len(names))
	seen := make([]int, len(names))
	for _, f := range fields {
		i := slices.Index(names, f.name)
		if i < 0 {
			continue
		}
		if f.array || f.raw != f.name {
			return nil, errAuthFields // an alias PHP also reads as this field
		}
		out[i] = f.value
		seen[i]++
	}
	for _, n := range seen {
		if n != 1 {
			return nil, errAuthFields
		}
	}
	return out, nil
}

// authFieldsJSON reads the named fields of a JSON body as Laravel's JSON input.
func authFieldsJSON(body []byte, names []string) ([]string, error) {
	obj, decoded := phpJSONObject(body)
	if !decoded || obj.members == nil {
		return nil, errAuthJSON
	}
	out := make([]string, len(names))
	for i, name := range names {
		raw, has := obj.members[name]
		if !has || obj.repeated[name] || len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &out[i]) != nil {
			return nil, errAuthFields
		}
	}
	return out, nil
}
