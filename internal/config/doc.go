// Package config is Baton's one configuration struct: defaults in code,
// BATON_* environment variables over them, command-line flags over those,
// and Validate before anything starts. Every variable is documented in the
// README's Configuration table.
package config
