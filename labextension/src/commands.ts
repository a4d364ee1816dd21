/**
 * Commands (palette, cell context menu) for the panel's actions, so each is
 * also reachable without the sidebar.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';

import { CellActions } from './actions';
import { CellpipeModel } from './model';
import { Role, ROLES } from './tags';
import { CommandIDs } from './tokens';

export function addCommands(
  app: JupyterFrontEnd,
  options: {
    model: CellpipeModel;
    actions: CellActions;
    palette: ICommandPalette | null;
    panelId: string;
    hasNotebook: () => boolean;
  }
): void {
  const { model, actions, palette, panelId, hasNotebook } = options;
  const { commands } = app;
  commands.addCommand(CommandIDs.openPanel, {
    label: 'Show the cellpipe panel',
    execute: () => app.shell.activateById(panelId)
  });
  commands.addCommand(CommandIDs.newStep, {
    label: 'cellpipe: New step from selected cells',
    isEnabled: hasNotebook,
    execute: args => actions.newStep(args.name as string | undefined)
  });
  commands.addCommand(CommandIDs.addToStep, {
    label: 'cellpipe: Add selected cells to a step',
    isEnabled: hasNotebook,
    execute: args => actions.addToStep(args.name as string | undefined)
  });
  commands.addCommand(CommandIDs.markRole, {
    label: args =>
      args.role
        ? `cellpipe: Mark selected cells as ${args.role}`
        : 'cellpipe: Mark selected cells',
    isEnabled: hasNotebook,
    execute: args => actions.markRole(args.role as Role)
  });
  commands.addCommand(CommandIDs.declareFile, {
    label: args =>
      args.kind === 'out'
        ? 'cellpipe: Declare an output file'
        : 'cellpipe: Declare an input file',
    isEnabled: hasNotebook,
    execute: args =>
      actions.declareFile(
        args.kind === 'out' ? 'out' : 'in',
        args.path as string | undefined
      )
  });
  commands.addCommand(CommandIDs.addDependency, {
    label: 'cellpipe: Run the selected step after another step',
    isEnabled: hasNotebook,
    execute: args => actions.addDependency(args.name as string | undefined)
  });
  commands.addCommand(CommandIDs.removeTag, {
    label: 'cellpipe: Remove a tag from the selected cells',
    isEnabled: hasNotebook,
    execute: args => {
      if (typeof args.tag === 'string') {
        actions.removeTag(args.tag);
      }
    }
  });
  commands.addCommand(CommandIDs.validate, {
    label: 'cellpipe: Validate the pipeline',
    isEnabled: hasNotebook,
    execute: () => model.validate()
  });
  commands.addCommand(CommandIDs.compile, {
    label: 'cellpipe: Compile the pipeline',
    isEnabled: hasNotebook,
    execute: () => model.compile()
  });
  commands.addCommand(CommandIDs.run, {
    label: 'cellpipe: Run the pipeline with default parameters',
    isEnabled: hasNotebook,
    execute: () => model.startRun({})
  });

  // The same actions on a cell's context menu.
  const cellSelector = '.jp-Notebook .jp-Cell';
  app.contextMenu.addItem({
    type: 'separator',
    selector: cellSelector,
    rank: 60
  });
  app.contextMenu.addItem({
    command: CommandIDs.newStep,
    selector: cellSelector,
    rank: 61
  });
  app.contextMenu.addItem({
    command: CommandIDs.addToStep,
    selector: cellSelector,
    rank: 62
  });
  app.contextMenu.addItem({
    command: CommandIDs.markRole,
    args: { role: 'skip' },
    selector: cellSelector,
    rank: 63
  });

  if (palette) {
    const category = 'cellpipe';
    for (const command of [
      CommandIDs.openPanel,
      CommandIDs.newStep,
      CommandIDs.addToStep,
      CommandIDs.addDependency,
      CommandIDs.validate,
      CommandIDs.compile,
      CommandIDs.run
    ]) {
      palette.addItem({ command, category });
    }
    for (const role of ROLES) {
      palette.addItem({
        command: CommandIDs.markRole,
        category,
        args: { role }
      });
    }
    palette.addItem({
      command: CommandIDs.declareFile,
      category,
      args: { kind: 'in' }
    });
    palette.addItem({
      command: CommandIDs.declareFile,
      category,
      args: { kind: 'out' }
    });
  }
}
