module github.com/apitoken/apitoken/bench

go 1.26.0

require (
	aidanwoods.dev/go-paseto v1.6.0
	github.com/HdrHistogram/hdrhistogram-go v1.4.0
	github.com/alexedwards/scs/v2 v2.9.0
	github.com/apitoken/apitoken v0.0.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.etcd.io/bbolt v1.5.0
)

require (
	aidanwoods.dev/go-result v0.3.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace github.com/apitoken/apitoken => ../
