/**
 * Galata (Playwright) configuration: a real JupyterLab started by `webServer`,
 * driven in Debian's chromium (never a downloaded browser).
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.CELLPIPE_UI_PORT || '8899';
const token = process.env.CELLPIPE_UI_TOKEN || 'cellpipe-ui-tests';

module.exports = {
  ...baseConfig,
  reporter: [['list'], ['html', { open: 'never' }]],
  timeout: 300 * 1000,
  expect: { timeout: 30 * 1000 },
  workers: 1,
  retries: 0,
  use: {
    ...baseConfig.use,
    baseURL: `http://localhost:${port}`,
    extraHTTPHeaders: { Authorization: `token ${token}` },
    viewport: { width: 1440, height: 900 },
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    // The server's log goes to a file (.ci/run prints its tail on failure).
    command:
      'jupyter lab --config jupyter_server_test_config.py > jupyter-server.log 2>&1',
    url: `http://localhost:${port}/api`,
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI,
    stdout: 'ignore',
    stderr: 'ignore'
  }
};
