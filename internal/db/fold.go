package db

import (
	"database/sql/driver"
	"strings"

	"modernc.org/sqlite"
)

// ContainsFoldFunc is the name of an SQL function of the SQLite connections:
// posta_contains_fold(haystack, needle) is 1 when needle is a substring of haystack ignoring
// case over all of Unicode (SQLite's own LIKE folds ASCII letters only), else 0; NULL when
// either is NULL. The full-text search checks its candidates with it.
const ContainsFoldFunc = "posta_contains_fold"

// The driver registers functions for every connection it opens afterwards, once per process.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction(ContainsFoldFunc, 2, containsFold)
	sqlite.MustRegisterDeterministicScalarFunction(TrigramsFunc, 1, trigramsFunc)
}

func containsFold(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	h, ok1 := textArg(args[0])
	n, ok2 := textArg(args[1])
	if !ok1 || !ok2 {
		return nil, nil
	}
	if strings.Contains(strings.ToLower(h), strings.ToLower(n)) {
		return int64(1), nil
	}
	return int64(0), nil
}

func textArg(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}
