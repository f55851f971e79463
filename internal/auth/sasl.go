package auth

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// NewLoginServer returns a server for the obsolete but widespread LOGIN mechanism
// (draft-murchison-sasl-login): it asks "Username:" then "Password:" and calls authenticate.
// A client may send the username as the initial response.
func NewLoginServer(authenticate func(username, password string) error) sasl.Server {
	return &loginServer{authenticate: authenticate}
}

type loginServer struct {
	authenticate func(username, password string) error
	step         int
	username     string
}

var errLoginDone = errors.New("sasl LOGIN: unexpected response after completion")

func (s *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch s.step {
	case 0:
		s.step = 1
		if response == nil {
			return []byte("Username:"), false, nil
		}
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 1:
		s.username = string(response)
		s.step = 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.authenticate(s.username, string(response))
	}
	return nil, true, errLoginDone
}
