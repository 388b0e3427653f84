package laravel

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Why ReadJSONFields declines a body.
var (
	errFieldsQuery   = errors.New("a query string (Laravel's input() also reads fields from it)")
	errFieldsType    = errors.New("not JSON as Laravel's isJson reads the Content-Type, or the Content-Type given twice")
	errFieldsBody    = errors.New("a body over the limit, or one that broke off")
	errFieldsJSON    = errors.New("JSON that PHP's json_decode refuses, or not an object")
	errFieldsRepeats = errors.New("a key given twice (PHP keeps the last, other readers the first)")
)

// ReadJSONFields reads the top-level fields of a write's JSON body as
// Laravel's $request->all() holds them, and puts the body back byte for
// byte. It reads them only where it can prove that PHP and Laravel read the
// same fields (see ReadAuthRequest): no query string (Laravel's input()
// takes fields from it too), one Content-Type that Laravel's isJson takes
// for JSON, a whole body within limit that PHP's json_decode decodes to an
// object, and no key given twice. Each field's value is its JSON text.
func ReadJSONFields(r *http.Request, limit int64) (map[string]json.RawMessage, error) {
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		return nil, errFieldsQuery
	}
	ct, ok := phpHeader(r.Header, "Content-Type")
	if !ok || !laravelIsJSON(ct) {
		return nil, errFieldsType
	}
	body, complete := PeekBody(r, limit)
	if !complete {
		return nil, errFieldsBody
	}
	obj, decoded := phpJSONObject(body)
	if !decoded || obj.members == nil {
		return nil, errFieldsJSON
	}
	if len(obj.repeated) > 0 {
		return nil, errFieldsRepeats
	}
	return obj.members, nil
}
