package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// openAPI serves the OpenAPI 3 document, built from the route table.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Document(), nil
}

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// Document returns the OpenAPI 3.1 description of every route.
func (a *API) Document() map[string]any {
	schemas := map[string]any{}
	paths := map[string]any{}
	for _, rt := range a.routes {
		op := map[string]any{
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
			"operationId": strings.ToLower(rt.method) + strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(rt.path, "/", "_"), "{", ""), "}", ""),
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.body), schemas)}}}
		}
		binary := func(types []string) map[string]any {
			c := map[string]any{}
			for _, t := range types {
				c[t] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
			}
			return c
		}
		if rt.bodyTypes != nil {
			op["requestBody"] = map[string]any{"required": true, "content": binary(rt.bodyTypes)}
		}
		resp := map[string]any{"description": http.StatusText(rt.status)}
		if rt.resp != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.resp), schemas)}}
		}
		if rt.files != nil {
			resp["content"] = binary(rt.files)
		}
		op["responses"] = map[string]any{
			strconv.Itoa(rt.status): resp,
			"default": map[string]any{"description": "an RFC 9457 problem; type is " + ProblemBase + "<rule>, e.g. contract-cap-exceeded, address-taken, quota-below-usage, not-found",
				"content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}},
		}
		if !rt.public {
			op["security"] = []any{map[string]any{"cookie": []string{}}, map[string]any{"bearer": []string{}}}
		}
		p, _ := paths["/api/v1"+rt.path].(map[string]any)
		if p == nil {
			p = map[string]any{}
			paths["/api/v1"+rt.path] = p
		}
		p[strings.ToLower(rt.method)] = op
	}
	schemas["Problem"] = map[string]any{"type": "object", "required": []string{"type", "title", "status"}, "properties": map[string]any{
		"type": map[string]any{"type": "string"}, "title": map[string]any{"type": "string"}, "status": map[string]any{"type": "integer"},
		"detail": map[string]any{"type": "string"}, "field": map[string]any{"type": "string", "description": "the input the rule refused"},
	}}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "posta administration API", "version": "1",
			"description": "Log in with POST /api/v1/session (cookie + CSRF token for changes) or use a bearer token from POST /api/v1/tokens."},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"cookie": map[string]any{"type": "apiKey", "in": "cookie", "name": "posta_session"},
				"bearer": map[string]any{"type": "http", "scheme": "bearer"},
			},
		},
	}
}

var timeType = reflect.TypeOf(time.Time{})

var jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()

// schemaOf describes a Go type as a JSON Schema; named struct types go to components.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() != reflect.Struct && t.Implements(jsonMarshaler):
		return map[string]any{"type": "string"} // decimal amounts and dates written as strings
	case t.Kind() == reflect.Struct:
		name := t.Name()
		if name == "" {
			return structSchema(t, schemas)
		}
		name = strings.ToUpper(name[:1]) + name[1:]
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // placeholder against recursion
			schemas[name] = structSchema(t, schemas)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	case t.Kind() == reflect.Interface:
		return map[string]any{}
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type, schemas)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props}
	if required != nil {
		s["required"] = required
	}
	return s
}
