// Package web embeds the built operator console (web/dist, committed so that
// a clone builds and serves it without Node.js) and serves it as a
// single-page application: files by path, index.html for client routes.
package web
