import { expect, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as path from 'path';

/**
 * The runs dashboard in the main area, against a real JupyterLab and the real
 * server extension: a small pipeline run three times with different
 * parameters, then sorted, filtered, compared, plotted and traced.
 *
 * The screenshots docs/panel-runs.png and docs/panel-runs-dark.png are written only on request:
 *   cd ui-tests && CELLPIPE_SCREENSHOTS=1 CI=1 jlpm playwright test tests/dash.spec.ts
 */

const NOTEBOOK = 'flow.ipynb';
const SCREENSHOT = path.resolve(
  __dirname,
  '..',
  '..',
  'docs',
  'panel-runs.png'
);

function cell(source: string, tags: string[]): object {
  return {
    cell_type: 'code',
    execution_count: null,
    metadata: { tags },
    outputs: [],
    source
  };
}

/** One parameter cell, two steps; `score` is a metric, score.txt an output file. */
const FLOW = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: {
      name: 'python3',
      display_name: 'Python 3',
      language: 'python'
    }
  },
  cells: [
    cell('lr = 0.1\nmodel = "tree"', ['parameters']),
    cell('data = [1, 2, 3]', ['step:load']),
    cell(
      'score = round(lr * 2 + len(data) / 10, 3)\n' +
        "open('score.txt', 'w').write(str(score))",
      ['step:train', 'metrics', 'out:score.txt']
    )
  ]
};

test.use({ autoGoto: true });

test('the runs dashboard sorts, filters, compares, plots and traces runs', async ({
  page,
  tmpPath
}) => {
  // Given a small pipeline in the server's root, run three times with different lr
  const notebook = `${tmpPath}/${NOTEBOOK}`;
  await page.contents.uploadContent(JSON.stringify(FLOW), 'text', notebook);
  const runs: string[] = [];
  for (const lr of [0.5, 0.1, 0.3]) {
    const started = await page.request.post('/cellpipe/runs', {
      data: { path: notebook, params: { lr } }
    });
    expect(started.status()).toBe(202);
    const runId = (await started.json()).run_id as string;
    await expect
      .poll(
        async () => {
          const detail = await (
            await page.request.get(`/cellpipe/runs/${runId}`)
          ).json();
          return detail.active ? 'active' : detail.run.state;
        },
        { timeout: 120 * 1000, intervals: [500] }
      )
      .toBe('succeeded');
    runs.push(runId);
  }

  // When the dashboard is opened from the sidebar's Runs tab
  await page.notebook.openByPath(notebook);
  await page.notebook.activate(NOTEBOOK);
  await page.sidebar.openTab('cellpipe-panel');
  const panel = page.locator('#cellpipe-panel');
  await expect(panel.locator('.cp-Header-path')).toHaveText(notebook);
  await panel.locator('.cp-Tab-runs').click();
  await panel.locator('.cp-open-dashboard').click();
  const dash = page.locator('#cellpipe-runs-dashboard');
  await expect(dash).toBeVisible();

  // Then every run is a row with its full id, parameters and metric as columns
  const rows = dash.locator('.cp-Dash-run');
  await expect(rows).toHaveCount(3);
  await expect(dash.locator('.cp-Dash-id')).toHaveText([...runs].reverse());
  await expect(dash.locator('th[data-col="param:flow.ipynb:lr"]')).toHaveText(
    'lr'
  );
  const score = 'td[data-col="metric:train.score"]';

  // When sorted by the metric (click: ascending, again: descending)
  const header = dash.locator('th[data-col="metric:train.score"]');
  await header.click();
  await expect(dash.locator(score)).toHaveText(['0.5', '0.9', '1.3']);
  await header.click();
  await expect(dash.locator(score)).toHaveText(['1.3', '0.9', '0.5']);

  // When filtered by a parameter's value, then by text
  const filter = dash.locator('.cp-Dash-filter');
  await filter.fill('lr=0.3');
  await expect(rows).toHaveCount(1);
  await expect(dash.locator(score)).toHaveText(['0.9']);
  await filter.fill(runs[0].slice(-6));
  await expect(dash.locator('.cp-Dash-id')).toHaveText([runs[0]]);
  await filter.fill('');
  await expect(rows).toHaveCount(3);

  // When two runs are selected and compared
  await dash.locator(`tr[data-run="${runs[0]}"] .cp-Dash-pick`).check();
  await dash.locator(`tr[data-run="${runs[1]}"] .cp-Dash-pick`).check();
  await dash.locator('.cp-Dash-compare').click();
  const compared = dash.locator('.cp-Dash-compareView');
  // Then parameters, metrics and artifacts are side by side, differences marked
  await expect(compared.locator('thead th')).toHaveText(['', runs[0], runs[1]]);
  const lrRow = compared.locator('tr[data-name="flow.ipynb:lr"]');
  await expect(lrRow).toHaveClass(/cp-Dash-changed/);
  await expect(lrRow.locator('td')).toHaveText(['flow.ipynb:lr', '0.5', '0.1']);
  await expect(
    compared.locator('tr[data-name="flow.ipynb:model"]')
  ).toHaveClass(/cp-Dash-same/);
  await expect(compared.locator('tr[data-name="train:score.txt"]')).toHaveClass(
    /cp-Dash-changed/
  );
  await expect(compared.locator('tr[data-name="load:data"]')).toHaveClass(
    /cp-Dash-same/
  );

  // When the metric is plotted against the parameter
  await dash.locator('.cp-Dash-plotMetric').selectOption({ label: 'score' });
  await dash.locator('.cp-Dash-plotX').selectOption({ label: 'lr' });
  // Then JupyterLab's Vega renderer draws it
  await expect(
    dash.locator('.cp-Dash-vega').locator('svg.marks, canvas.marks')
  ).toBeVisible();

  // When an artifact of a run is traced
  await dash.locator('.cp-Dash-traceRun').selectOption(runs[2]);
  await dash
    .locator('.cp-Dash-traceArtifact')
    .selectOption({ label: 'train · file · score.txt' });
  // Then its lineage names the run, the step and its inputs
  const lineage = dash.locator('.cp-Dash-lineage');
  await expect(lineage).toContainText(runs[2]);
  await expect(lineage).toContainText('train of flow.ipynb');
  await expect(lineage).toContainText('data =');

  // When the file on disk is traced: the last run wrote it
  await dash.locator('.cp-Dash-traceFile').fill(`${tmpPath}/score.txt`);
  await dash.locator('.cp-Dash-traceFile').press('Enter');
  await expect(lineage).toContainText(`${tmpPath}/score.txt`);
  await expect(lineage).toContainText(runs[2]);

  // With every pipeline under the root, the same runs are there
  await dash.locator('.cp-Dash-scope input').check();
  await expect(dash.locator('.cp-Dash-title')).toContainText(
    'every pipeline under the root'
  );
  await expect(
    dash.locator(runs.map(r => `tr[data-run="${r}"]`).join(', '))
  ).toHaveCount(3);
  await dash.locator('.cp-Dash-scope input').uncheck();
  await expect(rows).toHaveCount(3);

  // The dashboard also opens from the command palette
  await page.evaluate(() =>
    (window as any).jupyterapp.shell.currentWidget?.close()
  );
  await expect(dash).toHaveCount(0);
  await page.keyboard.press('Control+Shift+C');
  await page.locator('#modal-command-palette input').fill('runs dashboard');
  await page.keyboard.press('Enter');
  await expect(dash.locator('.cp-Dash-run')).toHaveCount(3);

  if (process.env.CELLPIPE_SCREENSHOTS) {
    await dash.locator('th[data-col="metric:train.score"]').click();
    await dash.locator(`tr[data-run="${runs[0]}"] .cp-Dash-pick`).check();
    await dash.locator(`tr[data-run="${runs[2]}"] .cp-Dash-pick`).check();
    await dash.locator('.cp-Dash-compare').click();
    await dash.locator('.cp-Dash-plotX').selectOption({ label: 'lr' });
    await expect(
      dash.locator('.cp-Dash-vega').locator('svg.marks, canvas.marks')
    ).toBeVisible();
    await page.screenshot({ path: SCREENSHOT });
    await page.theme.setDarkTheme();
    await expect(
      dash.locator('.cp-Dash-vega').locator('svg.marks, canvas.marks')
    ).toBeVisible();
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-dark.png') });
    await page.theme.setLightTheme();
  }
});

test('a sweep run from the command line is one collapsible group with its best trial', async ({
  page,
  tmpPath
}) => {
  // Given the pipeline in the server's root, swept over lr from the command line
  // (the CLI in the served folder, as a user would in a terminal)
  const notebook = `${tmpPath}/${NOTEBOOK}`;
  await page.contents.uploadContent(JSON.stringify(FLOW), 'text', notebook);
  const root = await page.evaluate(() =>
    JSON.parse(
      document.getElementById('jupyter-config-data')!.textContent ?? '{}'
    )
  );
  const folder = path.join(root.serverRoot as string, tmpPath);
  execFileSync(
    process.env.CELLPIPE_PYTHON || 'python',
    ['-m', 'cellpipe.cli', 'sweep', NOTEBOOK, '-p', 'lr=0.2,0.4,0.6'].concat([
      '--optimize',
      'score:min'
    ]),
    { cwd: folder, stdio: 'pipe', timeout: 240 * 1000 }
  );

  // When the dashboard of the pipeline is opened from a command
  await page.evaluate(
    path =>
      (window as any).jupyterapp.commands.execute('cellpipe:open-runs', {
        path
      }),
    notebook
  );
  const dash = page.locator('#cellpipe-runs-dashboard');

  // Then the three trials are under one sweep header naming the best trial
  const header = dash.locator('.cp-Dash-sweep');
  await expect(header).toHaveCount(1);
  await expect(header).toContainText('3 trials');
  await expect(header).toContainText('best score (minimize): 0.7, trial 0');
  await expect(dash.locator('.cp-Dash-trial')).toHaveCount(3);
  await expect(
    dash.locator('.cp-Dash-trial td[data-col="param:flow.ipynb:lr"]')
  ).toHaveText(['0.6', '0.4', '0.2']);

  // When the sweep is collapsed, its trials are hidden; expanded, they are back
  await header.locator('.cp-Dash-sweepToggle').click();
  await expect(dash.locator('.cp-Dash-trial')).toHaveCount(0);
  await expect(header).toHaveCount(1);
  await header.locator('.cp-Dash-sweepToggle').click();
  await expect(dash.locator('.cp-Dash-trial')).toHaveCount(3);
});
