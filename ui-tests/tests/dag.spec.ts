import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import * as path from 'path';

/**
 * The pipeline view (a live DAG in the main area), a run that survives a page
 * reload, and Cancel's outcome, against a real JupyterLab, the real server
 * extension and real runs. Each test uploads what it needs into its own
 * folder of the server's temporary root.
 *
 * The screenshot docs/panel-dag.png is written only by
 *   CELLPIPE_SCREENSHOTS=1 CI=1 jlpm playwright test tests/dag.spec.ts -g screenshot
 */

const EXAMPLE = path.resolve(
  __dirname,
  '..',
  '..',
  'example_notebooks',
  'breast_cancer.ipynb'
);
const SCREENSHOT = path.resolve(__dirname, '..', '..', 'docs', 'panel-dag.png');
const STEPS = [
  'load',
  'clean',
  'features',
  'train_logreg',
  'train_forest',
  'evaluate',
  'report'
];

test.use({ autoGoto: true });

/**
 * A three-step notebook whose middle step sleeps `delay` seconds (and whose
 * last step raises, when `report` says so).
 */
function slowNotebook(delay: number, report?: string): string {
  const cell = (id: string, source: string, tags: string[]) => ({
    cell_type: 'code',
    id,
    metadata: { tags },
    source,
    outputs: [],
    execution_count: null
  });
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3',
        language: 'python'
      },
      language_info: { name: 'python' }
    },
    cells: [
      cell('imports', 'import time', ['imports']),
      cell('params', `delay = ${delay}`, ['parameters']),
      cell('prepare', 'data = list(range(10))', ['step:prepare']),
      cell('slow', 'time.sleep(delay)\ntotal = sum(data)', ['step:slow']),
      cell('report', report ?? 'print("total", total, "after", delay, "s")', [
        'step:report'
      ])
    ]
  });
}

/** Open a notebook of the temp folder with the cellpipe panel beside it. */
async function openWithPanel(
  page: IJupyterLabPageFixture,
  file: string,
  steps: number
): Promise<void> {
  await page.notebook.openByPath(file);
  await page.notebook.activate(path.basename(file));
  await page.sidebar.openTab('cellpipe-panel');
  await expect(page.locator('#cellpipe-panel .cp-Step')).toHaveCount(steps);
}

async function uploadSlow(
  page: IJupyterLabPageFixture,
  tmpPath: string,
  delay: number,
  report?: string
): Promise<string> {
  const file = `${tmpPath}/slow.ipynb`;
  await page.contents.uploadContent(slowNotebook(delay, report), 'text', file);
  return file;
}

/** Open the pipeline view from the notebook's toolbar button. */
async function openPipelineView(page: IJupyterLabPageFixture) {
  await page
    .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .cp-open-pipeline-button')
    .first()
    .click();
  const view = page.locator('.cp-PipelineView');
  await expect(view).toBeVisible();
  return view;
}

/** Start a run from the panel's form, with parameter overrides. */
async function startRun(
  page: IJupyterLabPageFixture,
  params: { [name: string]: string } = {}
): Promise<void> {
  const panel = page.locator('#cellpipe-panel');
  await panel.locator('.cp-run').click();
  for (const [name, value] of Object.entries(params)) {
    await panel.locator(`input[data-param="${name}"]`).fill(value);
  }
  await panel.locator('.cp-start-run').click();
  await expect(panel.locator('.cp-cancel')).toBeVisible();
}

const node = (
  view: ReturnType<IJupyterLabPageFixture['locator']>,
  step: string
) => view.locator(`.cp-DagNode-step[data-step="${step}"]`);

test('the pipeline view draws the example pipeline, one node per step', async ({
  page,
  tmpPath
}) => {
  // Given the example notebook open with the cellpipe panel
  const file = `${tmpPath}/breast_cancer.ipynb`;
  await page.contents.uploadFile(EXAMPLE, file);
  await openWithPanel(page, file, STEPS.length);

  // When the pipeline view is opened from the command palette
  await page.keyboard.press('Control+Shift+C');
  await page
    .locator('.lm-CommandPalette-input')
    .fill('cellpipe: Open the pipeline view');
  await page.keyboard.press('Enter');
  const view = page.locator('.cp-PipelineView');

  // Then it shows one node per step, in the manifest's order...
  await expect(view.locator('.cp-DagNode-step')).toHaveCount(STEPS.length);
  const names = await view
    .locator('.cp-DagNode-step')
    .evaluateAll(nodes => nodes.map(n => n.getAttribute('data-step')));
  expect(names).toEqual(STEPS);
  // ...the variables on the edges, the files the pipeline writes as file nodes
  await expect(
    view.locator(
      '.cp-DagEdge[data-source="step:load"][data-target="step:clean"]'
    )
  ).toContainText('df_raw');
  await expect(
    view.locator('.cp-DagEdge[data-target="step:evaluate"]')
  ).toHaveCount(3);
  await expect(view.locator('.cp-DagNode-file')).toHaveCount(2);
  await expect(view.locator('.cp-DagNode-file').first()).toContainText(
    'clean.parquet'
  );
  // ...each step in the colour of its marks in the sidebar
  for (const step of ['load', 'evaluate']) {
    const swatch = await page
      .locator(`#cellpipe-panel .cp-Step[data-step="${step}"] .cp-Step-swatch`)
      .evaluate(e => getComputedStyle(e).backgroundColor);
    const band = await node(view, step)
      .locator('.cp-DagNode-band')
      .evaluate(e => getComputedStyle(e).fill);
    expect(band).toBe(swatch);
  }
  // ...laid out top to bottom: each step below its producers, and the whole
  // graph fitted to the view
  const y = async (step: string) => (await node(view, step).boundingBox())!.y;
  expect(await y('load')).toBeLessThan(await y('clean'));
  expect(await y('train_forest')).toBeLessThan(await y('evaluate'));
  const canvas = (await view.locator('.cp-DagCanvas').boundingBox())!;
  const svg = (await view.locator('.cp-DagSvg').boundingBox())!;
  expect(svg.width).toBeLessThanOrEqual(canvas.width);
  // ...and the notebook stays visible beside it
  await expect(page.locator('.jp-NotebookPanel').first()).toBeVisible();

  // When a node is clicked, its step's cells are selected in the notebook
  await node(view, 'features').click();
  await expect(node(view, 'features')).toHaveClass(/cp-mod-selected/);
  const selection = await page.evaluate(() => {
    const cells = Array.from(
      document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')
    );
    return cells
      .map((c, i) => ({
        i,
        step: c.getAttribute('data-cp-step'),
        on:
          c.classList.contains('jp-mod-selected') ||
          c.classList.contains('jp-mod-active')
      }))
      .filter(c => c.on);
  });
  expect(selection.map(c => c.step)).toEqual(selection.map(() => 'features'));
  expect(selection[0].i).toBe(16);
  // ...and the panel selects the step too
  await expect(
    page.locator('#cellpipe-panel .cp-Step.cp-mod-selected')
  ).toHaveAttribute('data-step', 'features');
  await expect(view.locator('.cp-DagDetails')).toContainText('features');
  await expect(view.locator('.cp-dag-output')).toBeDisabled(); // never ran

  // The notebook toolbar and the panel open the same (single) view
  await page.notebook.activate('breast_cancer.ipynb');
  await openPipelineView(page);
  await page.locator('#cellpipe-panel .cp-open-pipeline').click();
  await expect(page.locator('.cp-PipelineView')).toHaveCount(1);

  // In the dark theme, the text of the nodes is light
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('apputils:change-theme', {
      theme: 'JupyterLab Dark'
    })
  );
  await expect(page.locator('body')).toHaveAttribute(
    'data-jp-theme-light',
    'false',
    { timeout: 30000 }
  );
  await expect
    .poll(async () => {
      const fill = await node(view, 'load')
        .locator('.cp-DagNode-name')
        .evaluate(e => getComputedStyle(e).fill);
      const [r, g, b] = (fill.match(/\d+/g) ?? ['0', '0', '0']).map(Number);
      return r + g + b;
    })
    .toBeGreaterThan(500);
  await page.evaluate(() =>
    (window as any).jupyterapp.commands.execute('apputils:change-theme', {
      theme: 'JupyterLab Light'
    })
  );
});

test('the pipeline view follows a run live: pending, running with a timer, done', async ({
  page,
  tmpPath
}) => {
  // Given a notebook that has run once with a short sleep
  const file = await uploadSlow(page, tmpPath, 0);
  await openWithPanel(page, file, 3);
  const view = await openPipelineView(page);
  await expect(view.locator('.cp-DagNode-step')).toHaveCount(3);
  await expect(node(view, 'slow')).toHaveAttribute('data-state', '');
  await startRun(page);
  for (const step of ['prepare', 'slow', 'report']) {
    await expect(node(view, step)).toHaveAttribute('data-state', 'done', {
      timeout: 120000
    });
  }

  // When it runs again with a longer sleep (prepare is cached)
  await page.notebook.activate('slow.ipynb');
  await startRun(page, { delay: '8' });

  // Then the step the new run has not reached shows as pending for this run,
  // not as the previous run's "done"...
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'running', {
    timeout: 60000
  });
  await expect(node(view, 'report')).toHaveAttribute('data-state', 'pending');
  await expect(node(view, 'prepare')).toHaveAttribute('data-state', 'cached');
  await expect(view.locator('.cp-dag-cancel')).toBeVisible();
  // ...the running step's timer counts up...
  const timer = node(view, 'slow').locator('.cp-DagNode-time');
  await expect(timer).toHaveText(/^\d+\.\d s$/);
  const first = parseFloat((await timer.textContent()) ?? '0');
  await expect
    .poll(async () => parseFloat((await timer.textContent()) ?? '0'))
    .toBeGreaterThan(first + 1);
  // ...and every step ends done, with its duration
  await expect(node(view, 'report')).toHaveAttribute('data-state', 'done', {
    timeout: 120000
  });
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'done');
  expect(parseFloat((await timer.textContent()) ?? '0')).toBeGreaterThanOrEqual(
    8
  );
  await expect(view.locator('.cp-DagHeader-run')).toContainText('succeeded');
  await expect(view.locator('.cp-dag-cancel')).toHaveCount(0);

  // A finished step's output notebook opens from its node
  await node(view, 'report').click();
  await view.locator('.cp-dag-output').click();
  const output = page.locator('.cp-OutputNotebook');
  await expect(output).toBeVisible();
  await expect(output).toContainText('total 45 after 8 s');
});

test('a failed step shows its error from the pipeline view and leads to the failing line', async ({
  page,
  tmpPath
}) => {
  // Given a pipeline whose last step fails on its second line
  const file = await uploadSlow(
    page,
    tmpPath,
    0,
    'x = 1\nraise ValueError("report is broken")'
  );
  await openWithPanel(page, file, 3);
  const view = await openPipelineView(page);
  await page.notebook.activate('slow.ipynb');
  await startRun(page);
  // When it has run
  await expect(node(view, 'report')).toHaveAttribute('data-state', 'failed', {
    timeout: 120000
  });
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'done');
  // Then the failed node shows its error, and "Show error" goes to the cell
  await node(view, 'report').click();
  await expect(view.locator('.cp-DagDetails-error')).toContainText(
    'report is broken'
  );
  await page.locator('.jp-Notebook .jp-Cell').first().click();
  await view.locator('.cp-dag-error').click();
  await expect(
    page.locator('.jp-NotebookPanel .jp-Notebook .jp-Cell.jp-mod-active')
  ).toHaveAttribute('data-cp-step', 'report');
  const cursorLine = await page.evaluate(() => {
    for (const w of (window as any).jupyterapp.shell.widgets('main')) {
      if (w.context && w.content?.activeCell?.editor) {
        return w.content.activeCell.editor.getCursorPosition().line;
      }
    }
    return null;
  });
  expect(cursorLine).toBe(1); // 0-based: the raise on the cell's second line
  // ...and its output notebook, with the traceback, opens from the node
  await view.locator('.cp-dag-output').click();
  await expect(page.locator('.cp-OutputNotebook')).toContainText(
    'report is broken'
  );
});

test('a second tab and a reload mid-run re-attach to the run: live states and Cancel', async ({
  page,
  tmpPath
}) => {
  // Given a run in progress whose step sleeps a minute
  const file = await uploadSlow(page, tmpPath, 60);
  await openWithPanel(page, file, 3);
  await startRun(page);
  const panel = page.locator('#cellpipe-panel');
  const slowState = panel.locator('.cp-Step[data-step="slow"] .cp-Step-state');
  await expect(slowState).toHaveAttribute('data-state', 'running', {
    timeout: 60000
  });

  // When a second browser tab opens the notebook (in a workspace of its own)
  const second = await page.context().newPage();
  await second.goto(`lab/workspaces/cellpipe-second-tab/tree/${file}`);
  await second.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await second.locator('li[data-id="cellpipe-panel"]').click();
  // Then it follows the same run, with its states and Cancel
  const panel2 = second.locator('#cellpipe-panel');
  await expect(panel2.locator('.cp-Message')).toContainText(
    'is in progress: following it',
    { timeout: 30000 }
  );
  await expect(
    panel2.locator('.cp-Step[data-step="slow"] .cp-Step-state')
  ).toHaveAttribute('data-state', 'running');
  await expect(panel2.locator('.cp-cancel')).toBeVisible();
  await second.close();

  // When the page is reloaded (JupyterLab restores the notebook, not the
  // Launcher galata waits for by default)
  await page.reload({ waitForIsReady: false } as any);
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  if ((await page.locator('.jp-NotebookPanel').count()) === 0) {
    await page.notebook.openByPath(file);
  }
  await page.notebook.activate('slow.ipynb');
  await page.sidebar.openTab('cellpipe-panel');

  // Then the panel is following the run again: its states and Cancel
  await expect(panel.locator('.cp-Message')).toContainText(
    'is in progress: following it',
    { timeout: 30000 }
  );
  await expect(slowState).toHaveAttribute('data-state', 'running');
  await expect(
    panel.locator('.cp-Step[data-step="report"] .cp-Step-state')
  ).toHaveAttribute('data-state', 'pending');
  await expect(panel.locator('.cp-cancel')).toBeVisible();
  // ...and so is the pipeline view, with its timer
  const view = await openPipelineView(page);
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'running');
  await expect(node(view, 'slow').locator('.cp-DagNode-time')).toHaveText(
    /\d s$/
  );

  // Cancel after the reload stops the run
  await panel.locator('.cp-cancel').click();
  await expect(panel.locator('.cp-Message')).toContainText('interrupted', {
    timeout: 60000
  });
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'interrupted');
});

test('Cancel shows its outcome: "interrupted" once the run has stopped', async ({
  page,
  tmpPath
}) => {
  // Given a run whose step sleeps a minute, followed in the pipeline view
  const file = await uploadSlow(page, tmpPath, 60);
  await openWithPanel(page, file, 3);
  const view = await openPipelineView(page);
  await page.notebook.activate('slow.ipynb');
  await startRun(page);
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'running', {
    timeout: 60000
  });

  // When Cancel is pressed in the pipeline view
  const t0 = Date.now();
  await view.locator('.cp-dag-cancel').click();

  // Then, once the server confirms, the panel says the run was interrupted
  // and how long stopping it took; the node shows it, and Run is back
  const message = page.locator('#cellpipe-panel .cp-Message');
  await expect(message).toContainText(
    /interrupted: .*Stopped by Cancel after \d+\.\d s\./,
    {
      timeout: 60000
    }
  );
  expect(Date.now() - t0).toBeLessThan(30000);
  await expect(view.locator('.cp-Message')).toContainText('interrupted');
  await expect(node(view, 'slow')).toHaveAttribute('data-state', 'interrupted');
  await expect(view.locator('.cp-DagHeader-run')).toContainText('interrupted');
  await expect(view.locator('.cp-dag-cancel')).toHaveCount(0);
  await expect(page.locator('#cellpipe-panel .cp-run')).toBeVisible();
});

test('screenshot of the pipeline view for the README', async ({
  page,
  tmpPath
}) => {
  test.skip(
    !process.env.CELLPIPE_SCREENSHOTS,
    'writes docs/panel-dag.png: set CELLPIPE_SCREENSHOTS=1'
  );
  const file = `${tmpPath}/breast_cancer.ipynb`;
  await page.contents.uploadFile(EXAMPLE, file);
  await openWithPanel(page, file, STEPS.length);
  const view = await openPipelineView(page);
  await expect(view.locator('.cp-DagNode-step')).toHaveCount(STEPS.length);
  await page.notebook.activate('breast_cancer.ipynb');
  await startRun(page);
  for (const step of STEPS) {
    await expect(node(view, step)).toHaveAttribute(
      'data-state',
      /^(done|cached)$/,
      {
        timeout: 240000
      }
    );
  }
  await expect(page.locator('#cellpipe-panel .cp-run')).toBeVisible();
  await node(view, 'evaluate').click();
  await page.screenshot({ path: SCREENSHOT });
});
