// Console strings in English and Chinese. The Chinese terms are the seeds'
// (批次 batch, 执行实例 instance, 补数据 backfill, 重跑 rerun, 置成功 set
// success, 回滚 rollback), so operators see the words they already use.
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';

export const LANG_KEY = 'baton.lang';

const en = {
  app: { title: 'Baton', taskCenter: 'Task center', running: 'Running', failed: 'Failed', temporalUI: 'Temporal UI', logout: 'Log out', language: 'Language' },
  nav: { runs: 'Execution records', flows: 'Flows', tasks: 'Tasks', editor: 'New flow', workers: 'Workers', audit: 'Audit log', tokens: 'Tokens' },
  ops: {
    group: 'Group', worker: 'Worker', host: 'Host', running: 'Running', started: 'Started', lastSeen: 'Last seen', actor: 'Actor',
    request: 'Request', status: 'Status', tokenName: 'Token name', createToken: 'Create token', role: 'Role', lastUsed: 'Last used',
    revoked: 'revoked', revoke: 'Revoke', revokeConfirm: 'Revoke token {{name}}? Clients using it get 401 at once.',
    secretOnce: 'Token {{name}} created. Copy it now: it is shown only once.',
  },
  login: {
    title: 'Sign in to Baton', token: 'API token', submit: 'Sign in',
    hint: 'Paste a bearer token (baton dev prints the admin token at start).',
    invalid: 'The token is wrong or has been revoked: {{message}}',
    failed: 'Sign-in failed: {{message}}',
    unreachable: 'The Baton API does not answer',
    retrying: '{{message}}. Your token is kept; asking again every 3 s.',
  },
  role: { admin: 'admin', operator: 'operator', viewer: 'viewer (read only)' },
  status: {
    waiting: 'Waiting', running: 'Running', paused: 'Paused', stopping: 'Stopping', success: 'Success', failed: 'Failed',
    stopped: 'Stopped', timeout: 'Timed out', skipped: 'Skipped', rolling_back: 'Rolling back', rolled_back: 'Rolled back',
    rollback_failed: 'Rollback failed', abandoned: 'Abandoned', dispatched: 'Dispatched', stop_failed: 'Stop failed', forced: 'set success',
  },
  trigger: { cron: 'Cron', fixed_rate: 'Fixed rate', manual: 'Run once', api: 'API', flow: 'Flow', rerun: 'Rerun', backfill: 'Backfill', test: 'Test run' },
  runs: {
    title: 'Execution records', batch: 'Batch', definition: 'Flow / task', kind: 'Kind', version: 'Version', status: 'Status',
    trigger: 'Trigger', bizdate: 'Bizdate', created: 'Created', started: 'Started', finished: 'Finished', initiator: 'Initiator',
    group: 'Group', filterDefinition: 'Flow/task id or name', filterBatch: 'Batch id', filterInitiator: 'Initiator',
    bizdateRange: 'Bizdate range', createdRange: 'Start time range', all: 'All', reset: 'Reset',
    batchStop: 'Batch stop', batchRetry: 'Batch retry', selected: '{{count}} selected', results: 'Batch results',
    ok: 'OK', live: 'Live refresh', total: '{{total}} runs',
  },
  run: {
    title: 'Run {{id}}', topology: 'Topology', logs: 'Logs', transitions: 'Transitions', instances: 'Instances',
    node: 'Node', attempt: 'Attempt', shard: 'Shard', worker: 'Worker', exit: 'Exit code', noLog: 'Select an instance to see its log.',
    following: 'following', ended: 'end of log', download: 'Download', archive: 'Log archive', fit: 'Fit view',
    locate: 'Locate progress', nothingToLocate: 'No running or failed node', rerunFromPlan: 'Runs again: {{nodes}}',
    from: 'From', to: 'To', actor: 'Actor', reason: 'Reason', at: 'At', message: 'Message', nodeNotInRun: 'not started yet',
  },
  op: {
    stop: 'Stop', pause: 'Pause', resume: 'Resume', retry: 'Retry', skip: 'Set success', rerun: 'Rerun', 'retry-failed': 'Retry failed',
    rollback: 'Rollback', abandon: 'Abandon', 'rerun-from': 'Rerun from here', 'rerun-instance': 'Rerun instance', 'stop-instance': 'Stop instance', log: 'Open log',
    confirmTitle: '{{op}}: {{target}}', reason: 'Reason (recorded in the audit log)', confirm: 'Confirm', cancel: 'Cancel',
    done: '{{op}} applied', refused: 'Refused: {{message}}', none: 'No operation applies in this state',
  },
  flows: {
    title: 'Flows', search: 'Search by name', name: 'Name', id: 'ID', group: 'Group', version: 'Version', enabled: 'Enabled',
    trigger: 'Trigger', updated: 'Updated', actions: 'Actions', edit: 'Edit', runOnce: 'Run once', testRun: 'Test run',
    delete: 'Delete', deleteConfirm: 'Delete flow {{name}}? Its triggers stop; running runs are not affected.',
    new: 'New flow', runDialog: 'Run {{name}}', params: 'Params (key=value, one a line)', bizdate: 'Bizdate',
    test: 'Test run (trigger test)', started: 'Run {{id}} started', runs: 'Runs',
  },
  editor: {
    title: 'Flow editor', name: 'Flow name', group: 'Group', add: 'Add node', shell: 'Shell', http: 'HTTP', noop: 'No-op',
    sleep: 'Sleep', and: 'AND', or: 'OR', validate: 'Validate', save: 'Save (new version)', saved: 'Saved as version {{version}}',
    valid: 'The flow is valid', problems_one: '{{count}} problem', problems_other: '{{count}} problems', nodeId: 'Node id', nodeName: 'Display name', script: 'Script',
    url: 'URL', method: 'Method', duration: 'Duration', core: 'Core node', timeout: 'Timeout', retries: 'Max attempts',
    edgeKind: 'Edge kind', success: 'on success', failure: 'on failure', always: 'always', deleteSel: 'Delete selected',
    layout: 'Auto layout', selectHint: 'Select a node or an edge to edit it.', flowLevel: 'Problems of the flow',
    openRuns: 'Runs of this flow', run: 'Run once',
    kind: 'Task type', required: 'Required', interpreter: 'Interpreter', request: 'Request', headers: 'Headers', body: 'Body',
    expectStatus: 'Expected statuses', requestTimeout: 'Request timeout', timeoutHint: 'How long one attempt may run', grace: 'Grace',
    graceHint: 'Between SIGTERM and SIGKILL when stopped or timed out (default 10s)', workerGroup: 'Worker group', mode: 'Mode',
    mode_single: 'Single', mode_broadcast: 'Broadcast', mode_sharding: 'Sharding', shards: 'Shards', shardParams: 'Shard params',
    shardParamsHint: 'One line per shard, or none ($BATON_SHARD_PARAM)', successRate: 'Success rate',
    successRateHint: 'Share of instances that must succeed (0 means 100)', retry: 'Retry', params: 'Params', rollback: 'Rollback',
    hasRollback: 'Run a rollback task (shell or http) when this node is rolled back', backoff: 'Backoff', initialInterval: 'First interval',
    maxInterval: 'Max interval', badDuration: 'A duration such as 90s, 10m, 1h30m or 2d', addRow: 'Add', removeRow: 'Remove',
    source: 'Task', inline: 'Defined here', ref: 'Reference a saved task', refTask: 'Saved task', openTask: 'Open the task',
    refHint: 'The task is inlined at its current version when the flow runs', pickTask: 'Pick a task',
    overrides: 'Node overrides', overridesHint: 'Set here, these replace the task\'s own timeout, retry and params for this node.',
    andHint: 'AND fires when every upstream edge fired.', orHint: 'OR fires when any upstream edge fired.',
    successHint: 'Runs the target when the source succeeds.', failureHint: 'Runs the target when the source fails (a handler).',
    alwaysHint: 'Runs the target whatever the source\'s outcome.',
    settings: 'Flow settings', groupHint: 'Default worker group of its tasks', flowTimeout: 'Flow timeout', failFast: 'Fail fast',
    failFastHint: 'Stop the other running nodes as soon as one fails', flowParams: 'Flow params', schedule: 'Schedule',
    triggerType: 'Trigger', trigger_none: 'None (manual, API)', trigger_cron: 'Cron', trigger_fixed_rate: 'Fixed rate',
    cron: 'Cron expression (Quartz, seconds first)', cronHint: 'e.g. 0 30 2 * * ? is every day at 02:30:00', interval: 'Interval',
    phase: 'Phase', timezone: 'Time zone', overlap: 'When still running', overlap_skip: 'Skip', overlap_buffer_one: 'Buffer one',
    overlap_buffer_all: 'Buffer all', overlap_allow_all: 'Allow all', overlap_cancel_other: 'Cancel the running one',
    overlap_terminate_other: 'Terminate the running one', catchup: 'Catch-up window',
    catchupHint: 'Fire times missed while the server was down are made up for within this window', pauseOnFailure: 'Pause the schedule when a run fails',
    nextFires: 'Next fire times ({{zone}})',
    undo: 'Undo', redo: 'Redo', copy: 'Copy', paste: 'Paste', fit: 'Zoom to fit', copied_one: '{{count}} node copied', copied_other: '{{count}} nodes copied',
    multiSelected_one: '{{count}} node selected', multiSelected_other: '{{count}} nodes selected',
    versions: 'Version history', restore: 'Load into editor', restored: 'Version {{version}} loaded: save to make it the newest version',
    compare: 'Compare', nodeCount_one: '{{count}} node', nodeCount_other: '{{count}} nodes', noDiff: 'The two versions are the same',
    diffSummary: 'Nodes: {{added}} added, {{removed}} removed, {{changed}} changed; {{edges}} edge changes',
    diffWhat: 'Node / edge', diffField: 'Field', diffChange: 'Change', flowField: 'flow', node: 'node', edge: 'edge',
    diff_added: 'added', diff_removed: 'removed', diff_changed: 'changed', diff_same: 'same',
  },
  tasks: {
    title: 'Tasks', new: 'New task', search: 'Search by name', name: 'Name', group: 'Group', version: 'Version', enabled: 'Enabled',
    trigger: 'Trigger', updated: 'Updated', actions: 'Actions', delete: 'Delete', runs: 'Runs', runOnce: 'Run once', testRun: 'Test run',
    deleteConfirm: 'Delete task {{name}}? Its schedule stops; flows that reference it can no longer be enabled.',
    description: 'Description', save: 'Save (new version)', saved: 'Saved as version {{version}}', editTitle: 'Task',
    spec: 'Task', schedule: 'Schedule', versions: 'Versions', back: 'All tasks',
  },
  backfill: {
    title: 'Backfill {{name}}', open: 'Backfill', range: 'Bizdate range', step: 'Step', order: 'Order', asc: 'Oldest first',
    desc: 'Newest first', parallel: 'Parallel dates', parallelHint: '1 runs the dates one after another (serial)',
    nodes: 'Nodes', allNodes: 'All nodes', downstream: 'With everything downstream of the chosen nodes',
    preview: 'Preview (dry run)', start: 'Start backfill', dates: '{{count}} dates', started: 'Backfill {{id}} started',
    nodeDownstream: 'A node and its downstream', chosenSet: 'Chosen nodes', pickNode: 'The node to start from',
    pickNodes: 'The nodes to run', totals: 'Runs', totalsValue: '{{runs}} runs, {{nodeRuns}} node runs', sequence: 'Sequence',
  },
  runList: {
    flow: 'flow', task: 'task', filterBackfill: 'Backfill id', search: 'Search', definitionId: 'Definition {{id}}',
    total: '{{total}} runs, {{shown}} shown', pageSize: 'Page size', more: 'Load more', end: 'No more runs',
    fresh: '{{count}} runs changed or started that are not on screen', showNew: 'Show the newest',
    confirm: '{{op}}: {{count}} runs',
  },
  runDetail: { gantt: 'Gantt', backfillFromHere: 'Backfill from here' },
  gantt: {
    empty: 'No instance has been dispatched yet.', summary: '{{count}} instances over {{span}}', queued: 'queued (dispatched → started)',
    running: 'running', dispatched: 'Dispatched', queueTime: 'Queue', runTime: 'Run',
  },
  history: {
    title: 'Duration of {{node}} in past runs', summary: '{{count}} runs, {{samples}} successful', unfinished: 'not finished',
    thisRun: 'this run', range: 'Bizdates {{from}} – {{to}}.', runs: 'All runs of this definition',
  },
  logs: {
    searchNode: 'Filter nodes', allShards: 'All shards', shard: 'Shard {{index}}', size: '{{lines}} lines, {{size}}',
    top: 'Top', bottom: 'Follow', dropped: '{{count}} earlier lines are not shown; download the log for all of it.',
  },
  timeline: {
    key: 'Key events', all: 'All transitions', count: '{{count}} entries', what: 'What', why: 'why: {{reason}}',
    call: 'called', onNode: 'on node', refusedRequest: 'refused request {{id}}',
    entity: { run: 'run', node: 'node', instance: 'instance', request: 'request' },
    result: { applied: 'applied', dry_run: 'dry run', refused: 'refused', failed: 'failed', replayed: 'replayed' },
  },
  rerunDown: {
    title: 'Rerun downstream', hint: 'The chosen nodes and everything downstream of them run again in this run.',
    pick: 'Choose the nodes', preview: 'Preview (dry run)', willRun: '{{count}} nodes run again',
  },
  backfills: {
    nav: 'Backfills', title: 'Backfills (补数据)', filterDefinition: 'Flow or task id', id: 'Backfill', progress: 'Progress',
    counts: '{{done}} done · {{failed}} failed · {{running}} running · {{waiting}} waiting of {{total}}',
    runs: 'Runs', dateStatus: 'Date', stopConfirm: 'Stop the backfill? {{running}} running dates stop, {{waiting}} waiting dates are dropped.',
    op: { pause: 'Pause', resume: 'Resume', stop: 'Stop', retry: 'Retry failed dates' },
    status: { running: 'Running', paused: 'Paused', stopped: 'Stopped', success: 'Success', failed: 'Failed' },
    date: { waiting: 'Waiting', running: 'Running', success: 'Success', failed: 'Failed' },
  },
  // Workers (screens/workers).
  workers: { live: '{{count}} live', runningTotal: '{{count}} running', state: 'State', isLive: 'live', stale: 'not seen for 30 s' },
  // Audit log (screens/audit).
  audit: {
    action: 'Action', target: 'Target', targetKind: 'Target kind', targetId: 'Target id', result: 'Result',
    results: { applied: 'applied', dry_run: 'dry run', refused: 'refused', failed: 'failed', replayed: 'replayed' },
  },
  // Run topology (screens/run-detail/Topology.tsx, operate.tsx).
  topo: {
    op: { 'rerun-downstream': 'Rerun downstream' },
    count: '{{nodes}} nodes, {{edges}} edges', clearFocus: 'Clear highlight',
    lineage: '{{node}}: {{count}} nodes upstream and downstream',
  },
  common: { loading: 'Loading…', error: 'Error: {{message}}', refresh: 'Refresh', yes: 'Yes', no: 'No', close: 'Close' },
};

const zh: typeof en = {
  app: { title: 'Baton', taskCenter: '任务中心', running: '执行中', failed: '执行失败', temporalUI: 'Temporal 控制台', logout: '退出', language: '语言' },
  nav: { runs: '执行记录', flows: '工作流', tasks: '任务', editor: '新建工作流', workers: '执行机', audit: '审计日志', tokens: '令牌' },
  ops: {
    group: '部署组', worker: '执行机', host: '主机', running: '执行中', started: '启动时间', lastSeen: '最近心跳', actor: '操作人',
    request: '请求', status: '状态', tokenName: '令牌名称', createToken: '创建令牌', role: '角色', lastUsed: '最近使用',
    revoked: '已吊销', revoke: '吊销', revokeConfirm: '吊销令牌 {{name}}？使用它的客户端将立即收到 401。',
    secretOnce: '令牌 {{name}} 已创建。请立即复制：它只显示这一次。',
  },
  login: {
    title: '登录 Baton', token: 'API 令牌', submit: '登录',
    hint: '粘贴 Bearer 令牌（baton dev 启动时会打印管理员令牌）。',
    invalid: '令牌错误或已被吊销：{{message}}',
    failed: '登录失败：{{message}}',
    unreachable: 'Baton API 无响应',
    retrying: '{{message}}。令牌已保留，每 3 秒重试一次。',
  },
  role: { admin: '管理员', operator: '运维', viewer: '只读访客' },
  status: {
    waiting: '等待', running: '执行中', paused: '已暂停', stopping: '停止中', success: '成功', failed: '执行失败',
    stopped: '已停止', timeout: '超时', skipped: '已跳过', rolling_back: '回滚中', rolled_back: '已回滚',
    rollback_failed: '回滚失败', abandoned: '已放弃', dispatched: '已派发', stop_failed: '停止失败', forced: '置成功',
  },
  trigger: { cron: '定时', fixed_rate: '固定频率', manual: '手动执行', api: 'API', flow: '工作流', rerun: '重跑', backfill: '补数据', test: '测试运行' },
  runs: {
    title: '执行记录', batch: '批次', definition: '工作流 / 任务', kind: '类型', version: '版本', status: '状态',
    trigger: '触发方式', bizdate: '业务日期', created: '创建时间', started: '开始时间', finished: '结束时间', initiator: '发起人',
    group: '部署组', filterDefinition: '工作流/任务 ID 或名称', filterBatch: '批次 ID', filterInitiator: '发起人',
    bizdateRange: '业务日期范围', createdRange: '开始时间范围', all: '全部', reset: '重置',
    batchStop: '批量停止', batchRetry: '批量重试', selected: '已选 {{count}} 个', results: '批量操作结果',
    ok: '成功', live: '实时刷新', total: '共 {{total}} 个批次',
  },
  run: {
    title: '批次 {{id}}', topology: '拓扑', logs: '日志', transitions: '状态流转', instances: '执行实例',
    node: '节点', attempt: '第几次', shard: '分片', worker: '执行机', exit: '退出码', noLog: '选择一个执行实例查看日志。',
    following: '实时跟踪中', ended: '日志结束', download: '下载', archive: '日志归档', fit: '适应画布',
    locate: '定位当前进度', nothingToLocate: '没有执行中或失败的节点', rerunFromPlan: '将重新执行：{{nodes}}',
    from: '原状态', to: '新状态', actor: '操作人', reason: '原因', at: '时间', message: '信息', nodeNotInRun: '尚未开始',
  },
  op: {
    stop: '停止', pause: '暂停', resume: '恢复', retry: '重试', skip: '置成功', rerun: '重跑', 'retry-failed': '重试失败节点',
    rollback: '回滚', abandon: '放弃', 'rerun-from': '从此节点重跑', 'rerun-instance': '重跑执行实例', 'stop-instance': '停止执行实例', log: '查看日志',
    confirmTitle: '{{op}}：{{target}}', reason: '原因（记入审计日志）', confirm: '确认', cancel: '取消',
    done: '{{op}}已执行', refused: '操作被拒绝：{{message}}', none: '当前状态下没有可用操作',
  },
  flows: {
    title: '工作流', search: '按名称搜索', name: '名称', id: 'ID', group: '部署组', version: '版本', enabled: '启用',
    trigger: '触发方式', updated: '更新时间', actions: '操作', edit: '编辑', runOnce: '手动执行', testRun: '测试运行',
    delete: '删除', deleteConfirm: '删除工作流 {{name}}？其调度将停止，正在运行的批次不受影响。',
    new: '新建工作流', runDialog: '执行 {{name}}', params: '参数（每行一个 key=value）', bizdate: '业务日期',
    test: '测试运行（触发方式 test）', started: '批次 {{id}} 已启动', runs: '执行记录',
  },
  editor: {
    title: '工作流编排', name: '工作流名称', group: '部署组', add: '添加节点', shell: 'Shell', http: 'HTTP', noop: '空任务',
    sleep: '等待', and: '与 (AND)', or: '或 (OR)', validate: '校验', save: '保存（新版本）', saved: '已保存为版本 {{version}}',
    valid: '工作流校验通过', problems_one: '{{count}} 个问题', problems_other: '{{count}} 个问题', nodeId: '节点 ID', nodeName: '显示名称', script: '脚本',
    url: 'URL', method: '方法', duration: '时长', core: '核心任务节点', timeout: '超时', retries: '最大尝试次数',
    edgeKind: '依赖类型', success: '成功后', failure: '失败后', always: '总是', deleteSel: '删除所选',
    layout: '自动布局', selectHint: '选择节点或连线进行编辑。', flowLevel: '工作流级问题',
    openRuns: '该工作流的执行记录', run: '手动执行',
    kind: '任务类型', required: '必填', interpreter: '解释器', request: '请求', headers: '请求头', body: '请求体',
    expectStatus: '期望状态码', requestTimeout: '请求超时', timeoutHint: '单次执行的最长时间', grace: '优雅退出时间',
    graceHint: '停止或超时后从 SIGTERM 到 SIGKILL 的等待时间（默认 10s）', workerGroup: '执行机分组', mode: '执行模式',
    mode_single: '单机', mode_broadcast: '广播', mode_sharding: '分片', shards: '分片数', shardParams: '分片参数',
    shardParamsHint: '每行一个分片参数，或不填（$BATON_SHARD_PARAM）', successRate: '成功率',
    successRateHint: '必须成功的执行实例比例（0 表示 100）', retry: '重试', params: '参数', rollback: '回滚',
    hasRollback: '回滚该节点时执行回滚任务（shell 或 http）', backoff: '退避系数', initialInterval: '首次间隔',
    maxInterval: '最大间隔', badDuration: '时长格式如 90s、10m、1h30m 或 2d', addRow: '添加', removeRow: '删除',
    source: '任务', inline: '在此定义', ref: '引用已有任务', refTask: '已有任务', openTask: '打开该任务',
    refHint: '工作流运行时按任务的当前版本内联', pickTask: '选择任务',
    overrides: '节点级覆盖', overridesHint: '在此设置的超时、重试和参数将替换任务自身的配置（仅对该节点）。',
    andHint: '与 (AND)：所有上游连线都触发后才触发。', orHint: '或 (OR)：任一上游连线触发即触发。',
    successHint: '上游成功后执行下游。', failureHint: '上游失败后执行下游（失败处理）。',
    alwaysHint: '无论上游结果如何都执行下游。',
    settings: '工作流属性', groupHint: '其任务默认的执行机分组', flowTimeout: '工作流超时', failFast: '快速失败',
    failFastHint: '任一节点失败时立即停止其他执行中的节点', flowParams: '工作流参数', schedule: '调度配置',
    triggerType: '触发方式', trigger_none: '不调度（手动、API）', trigger_cron: '定时 (Cron)', trigger_fixed_rate: '固定频率',
    cron: 'Cron 表达式（Quartz，秒在前）', cronHint: '例如 0 30 2 * * ? 表示每天 02:30:00', interval: '间隔',
    phase: '相位', timezone: '时区', overlap: '上次未结束时', overlap_skip: '跳过', overlap_buffer_one: '缓冲一次',
    overlap_buffer_all: '全部缓冲', overlap_allow_all: '允许并行', overlap_cancel_other: '取消正在运行的',
    overlap_terminate_other: '终止正在运行的', catchup: '补偿窗口',
    catchupHint: '服务停机期间错过的调度时间在此窗口内补跑', pauseOnFailure: '运行失败时暂停调度',
    nextFires: '未来触发时间（{{zone}}）',
    undo: '撤销', redo: '重做', copy: '复制', paste: '粘贴', fit: '适应画布', copied_one: '已复制 {{count}} 个节点', copied_other: '已复制 {{count}} 个节点',
    multiSelected_one: '已选 {{count}} 个节点', multiSelected_other: '已选 {{count}} 个节点',
    versions: '版本历史', restore: '载入编辑器', restored: '已载入版本 {{version}}：保存后成为最新版本',
    compare: '对比', nodeCount_one: '{{count}} 个节点', nodeCount_other: '{{count}} 个节点', noDiff: '两个版本相同',
    diffSummary: '节点：新增 {{added}}，删除 {{removed}}，修改 {{changed}}；连线变更 {{edges}}',
    diffWhat: '节点 / 连线', diffField: '字段', diffChange: '变更', flowField: '工作流', node: '节点', edge: '连线',
    diff_added: '新增', diff_removed: '删除', diff_changed: '修改', diff_same: '相同',
  },
  tasks: {
    title: '任务', new: '新建任务', search: '按名称搜索', name: '名称', group: '部署组', version: '版本', enabled: '启用',
    trigger: '触发方式', updated: '更新时间', actions: '操作', delete: '删除', runs: '执行记录', runOnce: '手动执行', testRun: '测试运行',
    deleteConfirm: '删除任务 {{name}}？其调度将停止；引用它的工作流将无法启用。',
    description: '描述', save: '保存（新版本）', saved: '已保存为版本 {{version}}', editTitle: '任务',
    spec: '任务配置', schedule: '调度配置', versions: '版本', back: '全部任务',
  },
  backfill: {
    title: '补数据：{{name}}', open: '补数据', range: '业务日期范围', step: '步长', order: '顺序', asc: '从早到晚',
    desc: '从晚到早', parallel: '并行日期数', parallelHint: '1 表示按日期依次执行（串行）',
    nodes: '节点', allNodes: '全部节点', downstream: '包含所选节点的全部下游',
    preview: '预览（试运行）', start: '开始补数据', dates: '{{count}} 个日期', started: '补数据 {{id}} 已启动',
    nodeDownstream: '某节点及其下游', chosenSet: '指定节点', pickNode: '起始节点',
    pickNodes: '要执行的节点', totals: '批次', totalsValue: '{{runs}} 个批次，{{nodeRuns}} 个节点执行', sequence: '执行顺序',
  },
  runList: {
    flow: '工作流', task: '任务', filterBackfill: '补数据 ID', search: '查询', definitionId: '定义 {{id}}',
    total: '共 {{total}} 个批次，已显示 {{shown}} 个', pageSize: '每页', more: '加载更多', end: '没有更多了',
    fresh: '有 {{count}} 个批次新启动或状态变化，未在当前列表中', showNew: '显示最新',
    confirm: '{{op}}：{{count}} 个批次',
  },
  runDetail: { gantt: '甘特图', backfillFromHere: '从此补数据' },
  gantt: {
    empty: '尚无已派发的执行实例。', summary: '{{count}} 个执行实例，共 {{span}}', queued: '排队（派发 → 开始）',
    running: '执行', dispatched: '派发时间', queueTime: '排队', runTime: '执行',
  },
  history: {
    title: '{{node}} 的历史耗时', summary: '{{count}} 次执行，{{samples}} 次成功', unfinished: '未结束',
    thisRun: '本批次', range: '业务日期 {{from}} – {{to}}。', runs: '该定义的全部执行记录',
  },
  logs: {
    searchNode: '筛选节点', allShards: '全部分片', shard: '分片 {{index}}', size: '{{lines}} 行，{{size}}',
    top: '顶部', bottom: '跟踪最新', dropped: '前面 {{count}} 行未显示；下载日志可查看全部。',
  },
  timeline: {
    key: '关键事件', all: '全部状态流转', count: '{{count}} 条', what: '事件', why: '原因：{{reason}}',
    call: '调用', onNode: '节点', refusedRequest: '被拒绝的请求 {{id}}',
    entity: { run: '批次', node: '节点', instance: '执行实例', request: '请求' },
    result: { applied: '已执行', dry_run: '试运行', refused: '被拒绝', failed: '失败', replayed: '重放' },
  },
  rerunDown: {
    title: '重跑下游', hint: '所选节点及其全部下游将在本批次中重新执行。',
    pick: '选择节点', preview: '预览（试运行）', willRun: '将重跑 {{count}} 个节点',
  },
  backfills: {
    nav: '补数据', title: '补数据', filterDefinition: '工作流或任务 ID', id: '补数据', progress: '进度',
    counts: '成功 {{done}} · 失败 {{failed}} · 执行中 {{running}} · 等待 {{waiting}} / 共 {{total}}',
    runs: '执行记录', dateStatus: '日期状态', stopConfirm: '停止补数据？{{running}} 个执行中的日期将停止，{{waiting}} 个等待中的日期将取消。',
    op: { pause: '暂停', resume: '恢复', stop: '停止', retry: '重跑失败日期' },
    status: { running: '执行中', paused: '已暂停', stopped: '已停止', success: '成功', failed: '失败' },
    date: { waiting: '等待', running: '执行中', success: '成功', failed: '失败' },
  },
  // Workers (screens/workers).
  workers: { live: '{{count}} 台在线', runningTotal: '{{count}} 个执行中', state: '状态', isLive: '在线', stale: '30 秒未上报' },
  // Audit log (screens/audit).
  audit: {
    action: '操作', target: '对象', targetKind: '对象类型', targetId: '对象 ID', result: '结果',
    results: { applied: '已执行', dry_run: '试运行', refused: '已拒绝', failed: '失败', replayed: '重放' },
  },
  // Run topology (screens/run-detail/Topology.tsx, operate.tsx).
  topo: {
    op: { 'rerun-downstream': '重跑下游' },
    count: '{{nodes}} 个节点，{{edges}} 条边', clearFocus: '取消高亮',
    lineage: '{{node}}：上下游共 {{count}} 个节点',
  },
  common: { loading: '加载中…', error: '错误：{{message}}', refresh: '刷新', yes: '是', no: '否', close: '关闭' },
};

export function initialLang(): 'zh' | 'en' {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, zh: { translation: zh } },
  lng: initialLang(),
  fallbackLng: 'en',
  interpolation: { escapeValue: false },
});

export function setLang(lang: 'zh' | 'en') {
  localStorage.setItem(LANG_KEY, lang);
  void i18n.changeLanguage(lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export default i18n;
