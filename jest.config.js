// Jest over labextension/src/__tests__, with JupyterLab's own jest preset
// (jsdom shims for DragEvent & co., ts-jest, ESM packages transformed).
const jestJupyterLab = require('@jupyterlab/testing/lib/jest-config');

const esModules = [
  '@codemirror',
  '@jupyter/ydoc',
  '@jupyter/react-components',
  '@jupyter/web-components',
  '@jupyterlab/',
  '@marijn',
  '@microsoft',
  'color',
  'exenv-es6',
  'lib0',
  'marked',
  'nanoid',
  'vscode-ws-jsonrpc',
  'y-protocols',
  'y-websocket',
  'yjs'
].join('|');

const baseConfig = jestJupyterLab(__dirname);

module.exports = {
  ...baseConfig,
  automock: false,
  reporters: ['default'],
  roots: ['<rootDir>/labextension/src'],
  testRegex: 'labextension/src/__tests__/.*\\.spec\\.tsx?$',
  collectCoverageFrom: ['labextension/src/**/*.{ts,tsx}', '!labextension/src/**/*.d.ts'],
  transformIgnorePatterns: [`/node_modules/(?!${esModules}).+`]
};
