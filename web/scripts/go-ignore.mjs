// Some npm packages ship .go files (flatted does). A go.mod at the top of
// node_modules makes it a module of its own, so `go test ./...` and
// `go vet ./...` in the repository never compile them.
import { writeFileSync, existsSync } from 'node:fs';

if (existsSync('node_modules')) {
  writeFileSync('node_modules/go.mod', 'module ignored/node_modules\n');
}
