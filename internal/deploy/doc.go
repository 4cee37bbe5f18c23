// Package deploy holds no runtime code: its tests guard the deployment
// artifacts at the repository root (docker-compose.yml and Dockerfile), so a
// change that breaks the production shape — a missing service, a worker that
// can no longer be scaled, a Baton process without its Temporal or database
// settings, a broken start order — fails `go test ./...` even though CI has
// no Docker engine to run the compose file.
package deploy
