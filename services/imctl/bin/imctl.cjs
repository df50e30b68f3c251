#!/usr/bin/env node
// The executable npm links as `imctl`: committed with its exec bit, unlike the compiled dist/main.js,
// so `npx imctl` works in a fresh clone after `npm ci && npm run build`.
require('../dist/main.js');
