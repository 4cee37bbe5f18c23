// Generates src/api/schema.d.ts from the server's OpenAPI document,
// ../api/openapi.yaml (the file the server embeds and serves as
// /api/openapi.json).
import { execFileSync } from 'node:child_process';

const source = '../api/openapi.yaml';
console.log(`gen:api: ${source} -> src/api/schema.d.ts`);
execFileSync('npx', ['openapi-typescript', source, '-o', 'src/api/schema.d.ts'], { stdio: 'inherit' });
