package laravel

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The differential test: recordsync's readers of a request
// (ReadAuthRequest, Method, RoutePath) against what the real PHP
// and Laravel read of the same request. testdata/phpread/index.php runs under
// Debian's php-fpm with Debian's Laravel (Request::capture, the broadcasters'
// $request->socket_id / ->channel_name, getMethod, the router), reached over
// FastCGI with the variables Caddy's php_fastcgi sets. Generated requests,
// bounded in number: recordsync must read the same values as PHP, or refuse.

// phpFPM is a php-fpm serving testdata/phpread on a loopback port.
type phpFPM struct {
	addr   string
	script string
}

var (
	phpFPMOnce sync.Once
	phpFPMProc *phpFPM
	phpFPMErr  error
)

// startPHPFPM starts one php-fpm for the package's tests; it is stopped
// by TestMain's cleanup through the process group when the test binary exits.
func startPHPFPM(t *testing.T) *phpFPM {
	t.Helper()
	phpFPMOnce.Do(func() { phpFPMProc, phpFPMErr = launchPHPFPM() })
	if phpFPMErr != nil {
		t.Fatalf("php-fpm for the differential test: %v (the README's test command installs php-fpm and php-laravel-framework)", phpFPMErr)
	}
	return phpFPMProc
}

var phpFPMStop func()

func launchPHPFPM() (*phpFPM, error) {
	bin := ""
	for _, name := range []string{"php-fpm8.2", "php-fpm"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		matches, _ := filepath.Glob("/usr/sbin/php-fpm*")
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		if len(matches) == 0 {
			return nil, fmt.Errorf("php-fpm not found")
		}
		bin = matches[0]
	}
	dir, err := os.MkdirTemp("", "recordsync-phpread-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`[global]
error_log = %[1]s/php-fpm.log
daemonize = no
[phpread]
listen = %[2]s
pm = static
pm.max_children = 2
clear_env = no
php_admin_value[error_log] = %[1]s/php-errors.log
php_admin_value[display_errors] = off
`, dir, addr)
	confPath := filepath.Join(dir, "php-fpm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-R", "-F", "-y", confPath, "-p", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	phpFPMStop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "php-fpm.log"))
			return nil, fmt.Errorf("php-fpm did not listen on %s: %s", addr, log)
		}
		time.Sleep(30 * time.Millisecond)
	}
	script, err := filepath.Abs("testdata/phpread/index.php")
	if err != nil {
		return nil, err
	}
	return &phpFPM{addr: addr, script: script}, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if phpFPMStop != nil {
		phpFPMStop()
	}
	os.Exit(code)
}

// phpRead is what index.php reports.
type phpRead struct {
	Method      string   `json:"method"`
	SocketID    phpValue `json:"socket_id"`
	ChannelName phpValue `json:"channel_name"`
	Bearer      phpValue `json:"bearer"`
	Route       string   `json:"route"`
	Error       string   `json:"error"`
	// Cookies are $_COOKIE in PHP's order, each name base64.
	Cookies []struct {
		Name  string   `json:"name"`
		Value phpValue `json:"value"`
	} `json:"cookies"`
}

type phpValue struct {
	Type string `json:"type"`
	B64  string `json:"b64"`
}

func (v phpValue) str() (string, bool) {
	if v.Type != "string" {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(v.B64)
	return string(b), err == nil
}

// read sends r to PHP as Caddy's php_fastcgi would (its environment from
// modules/caddyhttp/reverseproxy/fastcgi: CONTENT_TYPE is the first
// Content-Type, every header HTTP_{NAME} with '-' → '_', values joined with
// ", "; QUERY_STRING the raw query; a path naming /index.php split into
// SCRIPT_NAME and PATH_INFO) and returns what PHP read.
func (p *phpFPM) read(t *testing.T, r *http.Request, body []byte) phpRead {
	t.Helper()
	env := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_NAME":       "localhost",
		"SERVER_PORT":       "80",
		"REMOTE_ADDR":       "127.0.0.1",
		"REQUEST_SCHEME":    "http",
		"REQUEST_METHOD":    r.Method,
		"CONTENT_TYPE":      r.Header.Get("Content-Type"),
		"CONTENT_LENGTH":    fmt.Sprint(len(body)),
		"QUERY_STRING":      r.URL.RawQuery,
		"REQUEST_URI":       r.URL.RequestURI(),
		"DOCUMENT_ROOT":     filepath.Dir(p.script),
		"SCRIPT_FILENAME":   p.script,
		"SCRIPT_NAME":       "/index.php",
		"PHP_SELF":          "/index.php",
		"HTTP_HOST":         "localhost",
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/index.php"); ok && (rest == "" || rest[0] == '/') {
		env["PATH_INFO"] = rest
		env["PHP_SELF"] = r.URL.Path
	}
	for k, v := range r.Header {
		env["HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))] = strings.Join(v, ", ")
	}
	out, err := fcgiRequest(p.addr, env, body)
	if err != nil {
		t.Fatalf("FastCGI: %v", err)
	}
	if i := bytes.Index(out, []byte("\r\n\r\n")); i >= 0 {
		out = out[i+4:]
	}
	var pr phpRead
	if err := json.Unmarshal(out, &pr); err != nil {
		t.Fatalf("index.php answered %q: %v", out, err)
	}
	return pr
}

// fcgiRequest makes one FastCGI responder request (the FastCGI
// specification, 1.0: BEGIN_REQUEST, PARAMS, STDIN; STDOUT until
// END_REQUEST) and returns its standard output.
func fcgiRequest(addr string, env map[string]string, body []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	w := bufio.NewWriter(conn)
	record := func(typ byte, content []byte) {
		for first := true; first || len(content) > 0; first = false {
			n := min(len(content), 65535)
			hdr := [8]byte{1, typ, 0, 1, byte(n >> 8), byte(n), 0, 0}
			w.Write(hdr[:])
			w.Write(content[:n])
			content = content[n:]
		}
	}
	record(1, []byte{0, 1, 0, 0, 0, 0, 0, 0}) // BEGIN_REQUEST, role responder
	var params []byte
	for k, v := range env {
		for _, n := range []int{len(k), len(v)} {
			if n < 128 {
				params = append(params, byte(n))
			} else {
				params = binary.BigEndian.AppendUint32(params, uint32(n)|1<<31)
			}
		}
		params = append(append(params, k...), v...)
	}
	record(4, params)
	record(4, nil)
	if len(body) > 0 {
		record(5, body)
	}
	record(5, nil)
	if err := w.Flush(); err != nil {
		return nil, err
	}
	rd := bufio.NewReader(conn)
	var stdout bytes.Buffer
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(rd, hdr[:]); err != nil {
			return nil, err
		}
		content := make([]byte, int(hdr[4])<<8|int(hdr[5])+int(hdr[6]))
		if _, err := io.ReadFull(rd, content); err != nil {
			return nil, err
		}
		content = content[:len(content)-int(hdr[6])]
		switch hdr[1] {
		case 6:
			stdout.Write(content)
		case 3:
			return stdout.Bytes(), nil
		}
	}
}

// diffCase is one generated request.
type diffCase struct {
	method, target string
	header         http.Header
	body           []byte
}

func (c diffCase) request() *http.Request {
	r := httptest.NewRequest(c.method, "http://localhost"+c.target, bytes.NewReader(c.body))
	r.Header = c.header.Clone()
	return r
}

func (c diffCase) String() string {
	return fmt.Sprintf("%s %s %v body %q", c.method, c.target, c.header, c.body)
}

// Pieces the generator draws from: names PHP reads as the fields (and
// names it does not), values, separators and encodings.
var (
	diffNames = []string{
		"socket_id", "channel_name", "_method",
		"channel[name", "channel.name", "channel name", " channel_name", "channel_name[]", "channel_name[x]",
		"channel%5Bname", "channel%2Ename", "channel+name", "channel_name%00x", "channel[name]", "channel[name[x",
		"socket[id", "socket.id", "socket_id[", "socket_id]", "%20socket_id", "socket%5Fid", "Socket_id",
		".method", " method", "_method[", "_method[]", "[method", "_method%00", "%5Fmethod", "_METHOD", "_method]",
		"a[b]c", "x", "", "=",
	}
	diffValues = []string{
		"1.2", "12.34", "private-a", "private-b", "presence-a", "PUT", "put", "PATCH", "patch", "POST", "GET", "DELETE",
		"", "0", "p%55t", "PU%54", "pu t", "PUT ", "ＰＵＴ", "%ff", "%", "%2", "+", "a%26channel_name%3Dprivate-b", "1.2%00",
	}
	// diffAuthorizations are Authorization header values: tokens, what
	// JavaScript sends for a missing one, other schemes, several "Bearer ",
	// commas.
	diffAuthorizations = []string{
		"Bearer 1|abcDEF", "Bearer null", "Bearer ", "Bearer", "bearer tok", "Basic c3RhZmY6cHc=",
		"Basic x, Bearer tok", "Bearer a, Bearer b", "Bearer tok,rest", "Bearer  two", "Token Bearer x",
		"Bearer é", "Bearer a\tb", "xBearer y", "",
	}
	diffContentTypes = []string{
		"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8",
		"Application/X-WWW-Form-Urlencoded", "application/x-www-form-urlencoded,x", "application/x-www-form-urlencoded\t",
		" application/x-www-form-urlencoded", "application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/vnd.api+json", "text/plain", "", "multipart/form-data; boundary=B",
		"application/x-www-form-urlencoded; x=/json",
	}
	diffPaths = []string{
		"/broadcasting/auth", "/broadcasting/auth/", "/broadcasting/auth//", "/index.php/broadcasting/auth",
		"/index.php/broadcasting/auth/", "//broadcasting/auth", "/broadcasting//auth", "/broadcasting/./auth",
		"/Broadcasting/auth", "/broadcasting/%61uth", "/index.phpx/broadcasting/auth", "/index.php",
		"/broadcasting/auth%2F", "/x/../broadcasting/auth", "/broadcasting/auth.json", "/%69ndex.php/broadcasting/auth",
		"/broadcasting/auth%2F/", "/broadcasting%2Fauth", "/index.php//broadcasting/auth", "/broadcasting/auth/%2F",
	}
)

// genDiffCase makes a random request of the kinds above.
func genDiffCase(rng *rand.Rand) diffCase {
	pick := func(s []string) string { return s[rng.Intn(len(s))] }
	c := diffCase{method: "POST", header: http.Header{}}
	if rng.Intn(10) == 0 {
		c.method = pick([]string{"GET", "PUT", "PATCH"})
	}
	path := "/broadcasting/auth"
	if rng.Intn(4) == 0 {
		path = pick(diffPaths)
	}
	field := func() string {
		name := pick(diffNames)
		if rng.Intn(3) == 0 {
			return name
		}
		return name + "=" + pick(diffValues)
	}
	form := func(n int) string {
		parts := []string{"socket_id=1.2", "channel_name=private-a"}
		for range n {
			parts = append(parts, field())
		}
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		if rng.Intn(5) == 0 {
			parts = append(parts, "")
		}
		return strings.Join(parts, pick([]string{"&", "&", "&", "&&", ";"}))
	}
	target := path
	if rng.Intn(3) == 0 {
		target += "?" + form(rng.Intn(3))
	}
	// A request line holds no raw space.
	c.target = strings.ReplaceAll(target, " ", "%20")
	ct := pick(diffContentTypes)
	if ct != "" {
		c.header.Set("Content-Type", ct)
	}
	if rng.Intn(20) == 0 {
		c.header.Add("Content-Type", pick(diffContentTypes))
	}
	if rng.Intn(3) == 0 {
		for range 1 + rng.Intn(2) {
			c.header.Add("Authorization", pick(diffAuthorizations))
		}
	}
	switch rng.Intn(8) {
	case 0:
		c.header.Set("X-HTTP-Method-Override", pick(diffValues))
	case 1:
		c.header["X_http_method_override"] = []string{pick(diffValues)}
	case 2:
		c.header["X-Http-Method-Override"] = []string{pick(diffValues), pick(diffValues)}
	}
	switch {
	case strings.Contains(ct, "json"):
		members := []string{`"socket_id":"1.2"`, `"channel_name":"private-a"`}
		for range rng.Intn(3) {
			k := pick([]string{"socket_id", "channel_name", "_method", "socket\\u005fid", "x", "_method\\u0000"})
			v := pick([]string{`"private-b"`, `"PUT"`, `"patch"`, `1.2`, `null`, `["PUT"]`, `{"a":"b"}`, `"\ud800"`, `"\ud83d\ude00"`, "\"\xff\"", `"1.2"`})
			members = append(members, `"`+k+`":`+v)
		}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		body := "{" + strings.Join(members, ",") + "}"
		switch rng.Intn(8) {
		case 0:
			body += " {}"
		case 1:
			body = `[` + body + `]`
		case 2:
			body = strings.Repeat("[", 511) + strings.Repeat("]", 511)
		case 3:
			body = `{"x":` + strings.Repeat("[", 510) + strings.Repeat("]", 510) + `,` + body[1:]
		}
		c.body = []byte(body)
	case strings.HasPrefix(ct, "multipart"):
		var b strings.Builder
		for _, f := range []string{"socket_id=1.2", "channel_name=private-a", field(), field()} {
			k, v, _ := strings.Cut(f, "=")
			fmt.Fprintf(&b, "--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", k, v)
		}
		b.WriteString("--B--\r\n")
		c.body = []byte(b.String())
	default:
		c.body = []byte(form(rng.Intn(4)))
	}
	return c
}

func TestPHPDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts php-fpm")
	}
	p := startPHPFPM(t)
	n := 2000
	if os.Getenv("RECORDSYNC_SOAK") == "1" {
		n = 20000
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d requests", seed, n)
	rng := rand.New(rand.NewSource(seed))
	var readAuth, readUserAuth, overrides, writes, routed, bearers int
	for i := range n {
		c := genDiffCase(rng)
		php := p.read(t, c.request(), c.body)

		// The auth fields: the same two strings as PHP, or a refusal.
		r := c.request()
		sid, ch, err := ReadAuthRequest(r, 8<<10)
		if got, _ := io.ReadAll(r.Body); !bytes.Equal(got, c.body) {
			t.Fatalf("case %d %v: body not restored", i, c)
		}
		if err == nil {
			readAuth++
			phpSID, ok1 := php.SocketID.str()
			phpCh, ok2 := php.ChannelName.str()
			if !ok1 || !ok2 || phpSID != sid || phpCh != ch {
				t.Fatalf("case %d %v:\nrecordsync read socket_id %q channel_name %q\nPHP read %+v", i, c, sid, ch, php)
			}
		}

		// The user authentication's socket_id (/broadcasting/user-auth):
		// the same string as PHP, or a refusal.
		r = c.request()
		if usid, err := ReadUserAuthRequest(r, 8<<10); err == nil {
			readUserAuth++
			if phpSID, ok := php.SocketID.str(); !ok || phpSID != usid {
				t.Fatalf("case %d %v:\nrecordsync read the user auth socket_id %q\nPHP read %+v", i, c, usid, php)
			}
		}
		if got, _ := io.ReadAll(r.Body); !bytes.Equal(got, c.body) {
			t.Fatalf("case %d %v: body not restored after the user auth", i, c)
		}

		// The Bearer token: the same string as Laravel's, or none.
		if tok, ok := BearerToken(c.request().Header); ok {
			bearers++
			if phpTok, isStr := php.Bearer.str(); !isStr || phpTok != tok {
				t.Fatalf("case %d %v:\nrecordsync read the Bearer token %q, Laravel %+v", i, c, tok, php.Bearer)
			}
		} else if php.Bearer.Type == "string" {
			t.Fatalf("case %d %v: Laravel read the Bearer token %+v, recordsync none", i, c, php.Bearer)
		}

		// The method: what Laravel routes, or not certain.
		r = c.request()
		method, certain := Method(r, 1<<20)
		if got, _ := io.ReadAll(r.Body); !bytes.Equal(got, c.body) {
			t.Fatalf("case %d %v: body not restored after the method", i, c)
		}
		phpMethod := php.Method
		if php.Error != "" {
			phpMethod = "(" + php.Error + ")" // Symfony refused the override: Laravel answers 400
		}
		isWrite := func(m string) bool { return m == "PUT" || m == "PATCH" }
		switch {
		case certain && method != phpMethod && (isWrite(method) || isWrite(phpMethod) || php.Error == ""):
			t.Fatalf("case %d %v:\nrecordsync read the method %q (certain), PHP %q", i, c, method, phpMethod)
		case !certain && isWrite(phpMethod) && !isWrite(method):
			// Passed through uncertain and counted: allowed, but say so.
			t.Logf("case %d: PHP routes %s, recordsync could not read it: %v", i, phpMethod, c)
		}
		if c.method == "POST" && phpMethod != "POST" {
			overrides++
		}
		if isWrite(phpMethod) {
			writes++
		}

		// The route: Laravel's auth route exactly where recordsync watches.
		if c.method == "POST" && php.Error == "" && (php.Method == "POST" || php.Method == "GET") {
			watched := RoutePath(c.request().URL) == "/broadcasting/auth"
			if routedHere := php.Route == "broadcasting/auth"; watched != routedHere {
				t.Fatalf("case %d %v: recordsync watches it %v, Laravel routes it to %q", i, c, watched, php.Route)
			}
			if watched {
				routed++
			}
		}
	}
	t.Logf("%d requests: recordsync read the auth fields of %d, the user auth socket_id of %d, %d overrides (%d writes), %d routed to the auth endpoint, %d Bearer tokens", n, readAuth, readUserAuth, overrides, writes, routed, bearers)
	// The generator must reach every kind of answer, or the test proves little.
	if readAuth < n/20 || readUserAuth < readAuth || writes < n/50 || overrides < n/20 || routed < n/10 || bearers < n/10 {
		t.Fatalf("the generated requests miss a kind: read %d, user auth %d, overrides %d, writes %d, routed %d of %d", readAuth, readUserAuth, overrides, writes, routed, n)
	}
}

// TestPHPReadsTheUpstreamAuthRequest: the auth_upstream authoriser infers
// that the app granted the channel it asked for, so PHP and Laravel must read
// back exactly the socket_id and channel_name of its request (authForm),
// for every character a Pusher channel name may hold.
func TestPHPReadsTheUpstreamAuthRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts php-fpm")
	}
	p := startPHPFPM(t)
	const chars = "abcXYZ019-_=@,.;"
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := range 300 {
		b := make([]byte, 1+rng.Intn(40))
		for j := range b {
			b[j] = chars[rng.Intn(len(chars))]
		}
		channel := []string{"private-", "presence-", ""}[i%3] + string(b)
		socketID := fmt.Sprintf("%d.%d", rng.Uint32(), rng.Uint32())
		body := []byte(authForm(socketID, channel))
		r := httptest.NewRequest(http.MethodPost, "http://localhost/broadcasting/auth", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		php := p.read(t, r, body)
		gotSID, ok1 := php.SocketID.str()
		gotCh, ok2 := php.ChannelName.str()
		if !ok1 || !ok2 || gotSID != socketID || gotCh != channel {
			t.Fatalf("the authoriser asked for %q %q (body %q); PHP read %+v", socketID, channel, body, php)
		}
		// recordsync's own reader reads it too, the same two values.
		rr := httptest.NewRequest(http.MethodPost, "/broadcasting/auth", bytes.NewReader(body))
		rr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sid, ch, err := ReadAuthRequest(rr, 8<<10); err != nil || sid != socketID || ch != channel {
			t.Fatalf("ReadAuthRequest read %q %q (%v), want %q %q", sid, ch, err, socketID, channel)
		}
	}
}
