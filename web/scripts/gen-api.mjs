// Generates src/api/schema.d.ts from the server's OpenAPI document. The
// document is ../api/openapi.yaml (or .json) once issue 9 lands it; until
// then openapi/snapshot.yaml (a copy of that document plus GET /api/v1/me)
// stands in.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const candidates = ['../api/openapi.yaml', '../api/openapi.json', 'openapi/snapshot.yaml'];
const source = candidates.find((p) => existsSync(p));
if (!source) {
  console.error(`gen:api: none of ${candidates.join(', ')} exists`);
  process.exit(1);
}
console.log(`gen:api: ${source} -> src/api/schema.d.ts`);
execFileSync('npx', ['openapi-typescript', source, '-o', 'src/api/schema.d.ts'], { stdio: 'inherit' });
