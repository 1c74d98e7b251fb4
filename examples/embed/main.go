// Command embed is the smallest useful host of apitoken: its own handler,
// wrapped by the Guard, over the in-memory store. It prints an API token
// at start; try it with
//
//	curl -H "Authorization: Bearer <token>" http://127.0.0.1:8081/hello
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

func main() {
	ctx := context.Background()
	m, err := apitoken.New(memstore.New(), nil) // give HashKey in production
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Set-up: a read-only token of the account "demo", on the host's say.
	token, err := m.IssueFor(ctx, "demo", "", apitoken.IssueRequest{Description: "demo", Privilege: apitoken.ReadOnly})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token:", token.Secret)

	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apitoken.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%v, app %s)\n", p.Account, p.Privilege, p.App)
	})
	g := apitoken.NewGuard(m, nil)
	http.Handle("GET /hello", g.Handler(g.RequireWriteUnlessSafe()(hello)))
	log.Fatal(http.ListenAndServe("127.0.0.1:8081", nil))
}
