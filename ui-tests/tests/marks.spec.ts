import { expect, test } from '@jupyterlab/galata';

import { colourDistance } from '../../labextension/src/colours';

/**
 * Truthful marks, actionable errors and the keyboard, against a real
 * JupyterLab and the real server extension: every step its own colour, role
 * marks, markdown with the step below it, a failed step's traceback and a jump
 * to the failing line, a refused Compile's diagnostics, stale flags against the
 * last run, Kale's tag spelling kept, and `z` undoing a panel tag edit.
 * Each test uploads its own notebook into the server's temporary root.
 */

type Cell = [source: string, tags: string[], type?: 'code' | 'markdown'];

/** An nbformat 4.5 notebook with a Python kernel and stable cell ids. */
function notebook(cells: Cell[]): string {
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
    cells: cells.map(([source, tags, type], i) =>
      type === 'markdown'
        ? {
            cell_type: 'markdown',
            id: `c${i}`,
            metadata: tags.length ? { tags } : {},
            source
          }
        : {
            cell_type: 'code',
            id: `c${i}`,
            execution_count: null,
            metadata: tags.length ? { tags } : {},
            outputs: [],
            source
          }
    )
  });
}

test.use({ autoGoto: true });

/** Upload a notebook, open it and the panel; resolves with the panel. */
async function open(
  page: import('@jupyterlab/galata').IJupyterLabPageFixture,
  tmpPath: string,
  name: string,
  cells: Cell[]
) {
  await page.contents.uploadContent(
    notebook(cells),
    'text',
    `${tmpPath}/${name}`
  );
  await page.notebook.openByPath(`${tmpPath}/${name}`);
  await page.notebook.activate(name);
  await page.sidebar.openTab('cellpipe-panel');
  const panel = page.locator('#cellpipe-panel');
  await expect(panel.locator('.cp-Header-path')).toHaveText(
    `${tmpPath}/${name}`
  );
  return panel;
}

/** Tags of cell `index` of the current notebook, from the cell model. */
function tagsOf(
  page: import('@playwright/test').Page,
  index: number
): Promise<string[] | undefined> {
  return page.evaluate(
    i =>
      (window as any).jupyterapp.shell.currentWidget.content.model.cells
        .get(i)
        .getMetadata('tags'),
    index
  );
}

test('every one of 20 steps has its own colour; roles and headings are marked truthfully', async ({
  page,
  tmpPath
}) => {
  const cells: Cell[] = [
    ['import math', ['imports']],
    ['C = 1.0\nn: int = 3', ['parameters']]
  ];
  for (let i = 0; i < 20; i++) {
    cells.push([`## Step ${i}`, [], 'markdown']);
    cells.push([
      `x${i} = ${i === 0 ? 'C * n' : `x${i - 1} + 1`}`,
      [`step:s${i}`]
    ]);
  }
  cells.push(['print("scratch")', ['skip']]);
  const panel = await open(page, tmpPath, 'twenty.ipynb', cells);
  await expect(panel.locator('.cp-Step')).toHaveCount(20);

  // The step list: 20 swatches, 20 different colours, none close to another.
  const swatches = await panel
    .locator('.cp-Step-swatch')
    .evaluateAll(nodes =>
      nodes.map(n => getComputedStyle(n as HTMLElement).backgroundColor)
    );
  expect(new Set(swatches).size).toBe(20);
  let closest = Infinity;
  for (let i = 0; i < swatches.length; i++) {
    for (let j = i + 1; j < swatches.length; j++) {
      closest = Math.min(closest, colourDistance(swatches[i], swatches[j]));
    }
  }
  expect(closest).toBeGreaterThan(0.04);

  // The notebook: each step's cells carry its colour; the heading above a
  // step's code belongs to that step (as the compiler says), and labels it.
  const notebookCells = page.locator('.jp-Notebook .jp-Cell');
  for (let i = 0; i < 20; i++) {
    await expect(notebookCells.nth(2 + 2 * i)).toHaveAttribute(
      'data-cp-step',
      `s${i}`
    );
    await expect(notebookCells.nth(2 + 2 * i)).toHaveClass(/cp-step-first/);
    await expect(notebookCells.nth(3 + 2 * i)).toHaveAttribute(
      'data-cp-step',
      `s${i}`
    );
  }
  const marks = await notebookCells.evaluateAll(nodes =>
    nodes
      .filter(n => n.classList.contains('cp-step-first'))
      .map(n => getComputedStyle(n).getPropertyValue('--cp-step-color').trim())
  );
  expect(marks).toHaveLength(20);
  expect(new Set(marks).size).toBe(20);
  expect(new Set(marks)).toEqual(
    new Set(
      swatches.map(rgb => {
        const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
        return (
          '#' + [r, g, b].map(c => c.toString(16).padStart(2, '0')).join('')
        );
      })
    )
  );

  // Cells out of every step carry their role, never a step colour.
  await expect(notebookCells.nth(0)).toHaveAttribute('data-cp-role', 'imports');
  await expect(notebookCells.nth(1)).toHaveAttribute(
    'data-cp-role',
    'parameters'
  );
  await expect(notebookCells.nth(42)).toHaveAttribute('data-cp-role', 'skip');
  for (const i of [0, 1, 42]) {
    await expect(notebookCells.nth(i)).not.toHaveAttribute(
      'data-cp-step',
      /.*/
    );
  }

  // The run form shows each parameter as written, with its type.
  await panel.locator('.cp-run').click();
  await expect(panel.locator('.cp-param[data-param="C"]')).toHaveValue('1.0');
  await expect(panel.locator('.cp-param-type[data-param-type="C"]')).toHaveText(
    'number'
  );
  await expect(panel.locator('.cp-param-type[data-param-type="n"]')).toHaveText(
    'int'
  );
});

test('a failed step shows its traceback and the jump puts the cursor on the failing line; stale follows the last run', async ({
  page,
  tmpPath
}) => {
  const panel = await open(page, tmpPath, 'broken.ipynb', [
    ['n = 3', ['parameters']],
    ['values = list(range(n))', ['step:load']],
    [
      'a = len(values)\nb = a * 2\nraise ValueError(f"report is broken at {b}")\nc = 3',
      ['step:report']
    ]
  ]);
  await expect(panel.locator('.cp-Step')).toHaveCount(2);

  // Run with n = 4 (not the default).
  await panel.locator('.cp-run').click();
  await panel.locator('.cp-param[data-param="n"]').fill('4');
  await panel.locator('.cp-start-run').click();
  const report = panel.locator('.cp-Step[data-step="report"]');
  await expect(report.locator('.cp-Step-state')).toHaveAttribute(
    'data-state',
    'failed',
    { timeout: 240 * 1000 }
  );

  // The error: message, where, the failing line and the traceback's last frames.
  const error = report.locator('.cp-StepError');
  await expect(error.locator('.cp-StepError-message')).toContainText(
    'report is broken at 8'
  );
  await expect(error.locator('.cp-StepError-where')).toContainText(
    'cell [3], line 3'
  );
  await expect(error.locator('.cp-StepError-where code')).toHaveText(
    'raise ValueError(f"report is broken at {b}")'
  );
  await expect(error.locator('.cp-StepError-traceback')).toContainText(
    'ValueError'
  );

  // The jump: cell 3 active, in edit mode, the cursor on line 3 (not line 1).
  await page.evaluate(() => {
    (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex = 0;
  });
  await error.locator('.cp-StepError-jump').click();
  await expect
    .poll(() =>
      page.evaluate(() => {
        const nb = (window as any).jupyterapp.shell.currentWidget.content;
        return {
          cell: nb.activeCellIndex,
          mode: nb.mode,
          line: nb.activeCell.editor.getCursorPosition().line
        };
      })
    )
    .toEqual({ cell: 2, mode: 'edit', line: 2 });

  // Stale is measured against the last run's parameters (n = 4): load, which
  // ran with them, is up to date; the failed report is not.
  const load = panel.locator('.cp-Step[data-step="load"]');
  await expect(report.locator('.cp-Step-stale')).toBeVisible();
  await expect(load.locator('.cp-Step-stale')).toHaveCount(0);

  // Editing load's code (unsaved) makes it stale, with the reason...
  await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    nb.model.cells.get(1).sharedModel.setSource('values = list(range(n + 1))');
  });
  await expect(load.locator('.cp-Step-staleReason')).toBeVisible();
  // ...an error makes every flag unknown...
  await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    nb.model.cells.get(1).setMetadata('tags', ['step:load', 'after:nowhere']);
  });
  await expect(panel.locator('.cp-Steps-staleUnknown')).toBeVisible();
  await expect(panel.locator('.cp-Step-staleReason')).toHaveCount(0);
  // ...and fixing it, without a reload, brings them back.
  await page.evaluate(() => {
    const nb = (window as any).jupyterapp.shell.currentWidget.content;
    nb.model.cells.get(1).setMetadata('tags', ['step:load']);
  });
  await expect(load.locator('.cp-Step-staleReason')).toBeVisible();
  await expect(panel.locator('.cp-Steps-staleUnknown')).toHaveCount(0);

  // The run form remembers n = 4 for this notebook, also after a reload.
  await panel.locator('.cp-run').click();
  await expect(panel.locator('.cp-param[data-param="n"]')).toHaveValue('4');
  await page.notebook.save();
  // (The restored layout opens the notebook, not the Launcher galata waits for.)
  await page.reload({ waitForIsReady: false });
  await expect(panel.locator('.cp-Header-path')).toHaveText(
    `${tmpPath}/broken.ipynb`
  );
  await expect(panel.locator('.cp-Step')).toHaveCount(2);
  await panel.locator('.cp-run').click();
  await expect(panel.locator('.cp-param[data-param="n"]')).toHaveValue('4');
  await panel.locator('.cp-run-defaults').click();
  await expect(panel.locator('.cp-param[data-param="n"]')).toHaveValue('3');
});

test('a refused Compile lists its diagnostics, each a link to its cell', async ({
  page,
  tmpPath
}) => {
  const panel = await open(page, tmpPath, 'refused.ipynb', [
    ['x = 1', ['step:load']],
    ['y = x + 1', ['step:train']],
    ['z = y', ['step:report', 'after:nowhere']]
  ]);
  await expect(
    panel.locator('.cp-Diagnostics:not(.cp-Refusal) .cp-Diagnostics-count')
  ).toContainText('1 error(s)');
  await panel.locator('.cp-compile').click();
  const refusal = panel.locator('.cp-Refusal');
  await expect(refusal.locator('.cp-Section-title')).toContainText(
    'Compile refused'
  );
  const diagnostic = refusal.locator('.cp-Diagnostic-error');
  await expect(diagnostic).toHaveCount(1);
  await expect(diagnostic.locator('.cp-Diagnostic-code')).toHaveText('CP104');
  await expect(diagnostic.locator('.cp-Diagnostic-cell')).toContainText('[3');
  await expect(diagnostic.locator('.cp-Diagnostic-message')).toContainText(
    'after:nowhere'
  );
  await expect(diagnostic.locator('.cp-Diagnostic-fix')).toContainText(
    'known steps'
  );
  await expect(panel.locator('.cp-Message-error')).toHaveText(
    /^Compile refused: 1 error\(s\)/
  );
  await page.notebook.selectCells(0);
  await diagnostic.click();
  expect(
    await page.evaluate(
      () =>
        (window as any).jupyterapp.shell.currentWidget.content.activeCellIndex
    )
  ).toBe(2);
});

test('on a Kale notebook, tag edits from the panel write Kale’s spelling', async ({
  page,
  tmpPath
}) => {
  const panel = await open(page, tmpPath, 'kale.ipynb', [
    ['x = 1', ['block:load']],
    ['y = x + 1', ['block:train', 'prev:load']],
    ['z = y', []]
  ]);
  await expect(panel.locator('.cp-Step')).toHaveCount(2);
  await page.notebook.selectCells(2);
  await panel.locator('.cp-new-step').click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.locator('input').fill('report');
  await dialog.locator('.jp-mod-accept').click();
  await expect.poll(() => tagsOf(page, 2)).toEqual(['block:report']);
  await panel.locator('.cp-after').click();
  await dialog.locator('input').fill('train');
  await dialog.locator('.jp-mod-accept').click();
  await expect
    .poll(() => tagsOf(page, 2))
    .toEqual(['block:report', 'prev:train']);
  await expect(panel.locator('.cp-Step')).toHaveCount(3);
});

test('after a panel tag button, z in the notebook undoes the change', async ({
  page,
  tmpPath
}) => {
  const panel = await open(page, tmpPath, 'undo.ipynb', [
    ['x = 1', ['step:load']],
    ['y = 2', []],
    ['z = 3', ['step:train']]
  ]);
  await expect(panel.locator('.cp-Step')).toHaveCount(2);
  await page.notebook.selectCells(1);
  await panel.locator('.cp-role-skip').click();
  await expect.poll(() => tagsOf(page, 1)).toEqual(['skip']);
  // The keyboard is back in the notebook, in command mode...
  expect(
    await page.evaluate(() => {
      const nb = (window as any).jupyterapp.shell.currentWidget.content;
      return (
        nb.mode === 'command' &&
        nb.node.contains(document.activeElement) &&
        !document
          .querySelector('#cellpipe-panel')!
          .contains(document.activeElement)
      );
    })
  ).toBe(true);
  // ...so z (Undo Cell Operation) restores the tags, and the marks follow.
  await page.keyboard.press('z');
  await expect.poll(() => tagsOf(page, 1)).toBeUndefined();
  await expect(page.locator('.jp-Notebook .jp-Cell').nth(1)).toHaveAttribute(
    'data-cp-step',
    'load'
  );
});
