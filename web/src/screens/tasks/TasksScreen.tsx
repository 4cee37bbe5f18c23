import { DefinitionList } from '../flows/DefinitionList';

/** Stand-alone tasks: the same list as flows (search, enable, run once, test run, delete). */
export function TasksScreen() {
  return <DefinitionList kind="tasks" />;
}
