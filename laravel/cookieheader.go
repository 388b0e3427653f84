package laravel

import (
	"net/http"
	"strings"
)

// Cookie is one cookie as PHP's $_COOKIE holds it.
type Cookie struct {
	// Name is the name PHP files the cookie under, and so the name
	// Laravel's EncryptCookies checks its CookieValuePrefix against.
	Name string
	// Value is the value rawurldecoded, as PHP holds it.
	Value string
	// Raw is the value as sent (what Caddy's {http.request.cookie.*}
	// placeholder gives).
	Raw string
}

// PHPCookies reads the request's cookies as PHP fills $_COOKIE behind
// Caddy's php_fastcgi (main/php_variables.c, php_default_treat_data with
// PARSE_COOKIE, PHP 8):
//
//   - the Cookie header fields are one HTTP_COOKIE variable, joined with
//     ", " (Caddy's fastcgi transport joins a repeated header so);
//   - it is split at each ';' (empty pieces skipped), a piece at its first
//     '=' into name and value;
//   - leading white space of a name is dropped, and a piece without a
//     name is skipped; the name is not url-decoded (PHP 8: "a%5Fb" stays
//     "a%5Fb"), the value is rawurldecoded (a '+' stays a '+');
//   - the name is filed as php_register_variable_ex files it (phpVarName:
//     "a.b" and "a b" are "a_b", "a[b]" is an array);
//   - the first cookie of a name wins, but an array ("a[b]=1") takes the
//     name whatever comes before or after it; arrays are left out
//     (EncryptCookies leaves them alone, and they are nobody's session).
//
// ok is false when PHP's reading is not certain: the header under two
// spellings of its CGI name, or more cookies than max_input_vars.
func PHPCookies(h http.Header) (cookies []Cookie, ok bool) {
	var header string
	found := false
	for k, v := range h {
		if cgiName(k) != "COOKIE" {
			continue
		}
		if found {
			return nil, false
		}
		found, header = true, strings.Join(v, ", ")
	}
	if header == "" {
		return nil, true
	}
	// at maps a name to its cookie's index, or -1 once it is an array.
	var at map[string]int
	dropped := 0
	n := 0
	for header != "" {
		i := strings.IndexAny(header, ";\x00")
		piece := header
		if i >= 0 {
			piece, header = header[:i], header[i+1:]
		} else {
			header = ""
		}
		piece = strings.TrimLeft(piece, " \t\n\v\f\r")
		if piece == "" || piece[0] == '=' {
			continue
		}
		if n++; n > phpMaxInputVars {
			return nil, false
		}
		k, raw, _ := strings.Cut(piece, "=")
		name, array, named := phpVarName(k)
		if !named {
			continue
		}
		if at == nil {
			at = make(map[string]int)
		}
		j, seen := at[name]
		switch {
		case array:
			if seen && j >= 0 {
				cookies[j].Name = ""
				dropped++
			}
			at[name] = -1
		case !seen:
			at[name] = len(cookies)
			cookies = append(cookies, Cookie{Name: name, Value: phpRawURLDecode(raw), Raw: raw})
		}
	}
	if dropped > 0 {
		kept := cookies[:0]
		for _, c := range cookies {
			if c.Name != "" {
				kept = append(kept, c)
			}
		}
		cookies = kept
	}
	return cookies, true
}
