/**
 * HCL2 blocks to the Packer JSON template they stand for, so one validator (model/load.ts)
 * decides what is valid: `source "amazon-chroot"` blocks become `builders`, the `build`
 * block's `provisioner` and `post-processor` blocks keep their order, repeated nested
 * blocks become lists and single ones objects. `data "amazon-ami"` used as `source_ami`
 * becomes the builder's own `source_ami_filter`. Every key produced remembers where it was
 * written, so errors of the JSON validator point into the HCL files.
 */
import { joinPath } from '../../contract/field-errors.ts';
import { PACKER_VERSION } from '../template/functions.ts';
import { evaluate, type Context } from './evaluate.ts';
import { at, type Block } from './parser.ts';
import type { HclIssues, Located, Scope } from './scope.ts';
import { isObject, toList, toText, type Value } from './values.ts';

/** Nested blocks that may repeat: each becomes one element of a list. */
const LIST_BLOCKS = new Set(['ami_block_device_mappings', 'launch_block_device_mappings']);
/** Repeatable `tag { key = ..., value = ... }` blocks and the map they add to. */
const TAG_BLOCKS: Readonly<Record<string, string>> = { tag: 'tags', snapshot_tag: 'snapshot_tags' };
/** Provisioner settings Packer reads itself rather than passing to the provisioner. */
const SOURCE_FILTERS = new Set(['only', 'except']);

const DATA_MARK = '\u0000data.';
const dataMark = (name: string): string => `${DATA_MARK}amazon-ami.${name}\u0000`;

export interface Translation {
  template: Record<string, unknown>;
  /** JSON path (`builders[0].ami_name`) to `file:line:column`. */
  positions: Map<string, string>;
  /** JSON paths whose HCL failed (already reported): left out of `template`. */
  failed: ReadonlySet<string>;
}

interface SourceRef {
  type: string;
  name: string;
  /** The build's `source` block: its `name` renames, its other settings add to the source. */
  override?: Located<Block>;
  where: string;
}

class Translator {
  readonly positions = new Map<string, string>();
  readonly failed = new Set<string>();
  private readonly scope: Scope;
  private readonly issues: HclIssues;

  constructor(scope: Scope, issues: HclIssues) {
    this.scope = scope;
    this.issues = issues;
  }

  /** A block's body as an object: attributes evaluated, nested blocks as lists or objects. */
  body(block: Block, file: string, path: string, extra: Context['reference'], skip: ReadonlySet<string> = new Set()): Record<string, Value> {
    const out: Record<string, Value> = {};
    const context = this.scope.context(file, extra);
    for (const attribute of block.attributes) {
      if (skip.has(attribute.name)) continue;
      const key = joinPath(path, attribute.name);
      this.positions.set(key, at(file, attribute.node));
      if (attribute.name in out) {
        this.issues.add(at(file, attribute.node), `"${attribute.name}" is set twice`);
        continue;
      }
      const value = this.issues.catch<Value | undefined>(() => evaluate(attribute.expression, context), undefined);
      if (value === undefined) this.failed.add(key);
      else out[attribute.name] = value;
    }
    const counts = new Map<string, number>();
    for (const nested of block.blocks) {
      const tagMap = TAG_BLOCKS[nested.type];
      if (tagMap !== undefined) {
        const pair = this.body(nested, file, joinPath(path, tagMap), extra);
        const tags = isObject(out[tagMap] ?? null) ? (out[tagMap] as Record<string, Value>) : {};
        this.issues.catch(() => {
          tags[toText(pair.key ?? null, `${nested.type}'s key`)] = pair.value ?? null;
        }, undefined);
        out[tagMap] = tags;
        continue;
      }
      const index = counts.get(nested.type) ?? 0;
      counts.set(nested.type, index + 1);
      if (LIST_BLOCKS.has(nested.type)) {
        const list = Array.isArray(out[nested.type]) ? (out[nested.type] as Value[]) : [];
        const elementPath = joinPath(joinPath(path, nested.type), index);
        this.positions.set(elementPath, at(file, nested.node));
        list.push(this.body(nested, file, elementPath, extra));
        out[nested.type] = list;
      } else if (index > 0 || nested.type in out) {
        this.issues.add(at(file, nested.node), `"${nested.type}" is set twice`);
      } else {
        this.positions.set(joinPath(path, nested.type), at(file, nested.node));
        out[nested.type] = this.body(nested, file, joinPath(path, nested.type), extra);
      }
    }
    return out;
  }
}

/** `source.name` and `build.*` where Packer allows them: in the build's blocks. */
function buildReferences(source: { type: string; name: string }, buildName: string): Context['reference'] {
  return (root, name) => {
    if (root === 'source') {
      if (name === 'name') return source.name;
      if (name === 'type') return source.type;
      return undefined;
    }
    if (root === 'build') {
      if (name === 'name') return buildName;
      // Build data (`build.ID`, `build.SourceAMI`, ...) is known only while building:
      // the JSON template's `{{ build `ID` }}` stands for it.
      return `{{ build \`${name}\` }}`;
    }
    if (root === 'packer' && name === 'version') return PACKER_VERSION;
    return undefined;
  };
}

/** Only `data "amazon-ami"`, and only as a source_ami: the factory looks the image up itself. */
function dataReferences(data: ReadonlyMap<string, Located<Block>>): Context['reference'] {
  return (root, type) => {
    if (root !== 'data') return undefined;
    if (type !== 'amazon-ami') return undefined;
    return Object.fromEntries([...data.keys()].map((name) => [name, { id: dataMark(name) }]));
  };
}

const DATA_KEYS = new Set(['filters', 'owners', 'most_recent']);

function stringsWithMark(value: Value, path: string, found: string[]): void {
  if (typeof value === 'string' && value.includes(DATA_MARK)) found.push(path);
  else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      stringsWithMark(item, joinPath(path, index), found);
    });
  }
  else if (isObject(value)) for (const [key, item] of Object.entries(value)) stringsWithMark(item, joinPath(path, key), found);
}

export function translate(
  blocks: readonly Located<Block>[],
  scope: Scope,
  issues: HclIssues,
  selection: { only?: readonly string[]; except?: readonly string[] } = {},
): Translation {
  const translator = new Translator(scope, issues);
  const sources = new Map<string, Located<Block>>();
  const data = new Map<string, Located<Block>>();
  const builds = blocks.filter(({ item }) => item.type === 'build');
  for (const located of blocks) {
    const { file, item: block } = located;
    if (block.type === 'source' || block.type === 'data') {
      const [type, name] = block.labels;
      if (block.labels.length !== 2 || !type || !name) {
        issues.add(at(file, block.node), `a ${block.type} block takes two labels: its type and its name`);
        continue;
      }
      if (block.type === 'data' && type !== 'amazon-ami') {
        issues.add(at(file, block.node), `data source "${type}" is not supported: only "amazon-ami" (as a source_ami)`);
        continue;
      }
      const into = block.type === 'source' ? sources : data;
      const key = block.type === 'source' ? `${type}.${name}` : name;
      if (into.has(key)) issues.add(at(file, block.node), `${block.type} "${type}" "${name}" is defined twice`);
      else into.set(key, located);
    }
  }
  const dataRefs = dataReferences(data);

  if (builds.length !== 1) {
    const where = builds[1] ? at(builds[1].file, builds[1].item.node) : (blocks[0]?.file ?? '');
    issues.add(where, builds.length === 0 ? 'a build block is required' : `exactly one build block is supported, got ${builds.length}`);
    return { template: {}, positions: translator.positions, failed: translator.failed };
  }
  const { file: buildFile, item: build } = builds[0] as Located<Block>;
  const plain = scope.context(buildFile, dataRefs);
  const buildName = build.attributes.find((found) => found.name === 'name');
  const name = buildName ? issues.catch(() => toText(evaluate(buildName.expression, plain), 'the build name'), '') : '';

  // The build's sources, in order: `sources = [...]` then `source "..." {}` blocks.
  const refs: SourceRef[] = [];
  const parseRef = (text: string, where: string, override?: Located<Block>): void => {
    const match = /^source\.([^.]+)\.([^.]+)$/.exec(text);
    if (!match) {
      issues.add(where, `${JSON.stringify(text)} is not a source reference (source.amazon-chroot.NAME)`);
      return;
    }
    const source = sources.get(`${match[1]}.${match[2]}`);
    if (!source) issues.add(where, `${text} is not defined (no source "${match[1]}" "${match[2]}" block)`);
    else refs.push({ type: match[1] as string, name: match[2] as string, override, where });
  };
  const sourcesAttribute = build.attributes.find((found) => found.name === 'sources');
  if (sourcesAttribute) {
    const list = issues.catch(() => toList(evaluate(sourcesAttribute.expression, plain), 'sources'), []);
    for (const entry of list) parseRef(typeof entry === 'string' ? entry : JSON.stringify(entry), at(buildFile, sourcesAttribute.node));
  }
  for (const nested of build.blocks.filter((found) => found.type === 'source')) {
    parseRef(nested.labels[0] ?? '', at(buildFile, nested.node), { file: buildFile, item: nested });
  }

  const builders: Record<string, Value>[] = [];
  const active: { type: string; name: string }[] = [];
  refs.forEach((ref, index) => {
    const { file, item: block } = sources.get(`${ref.type}.${ref.name}`) as Located<Block>;
    const path = joinPath('builders', index);
    translator.positions.set(path, at(file, block.node));
    const builder: Record<string, Value> = { type: ref.type, ...translator.body(block, file, path, dataRefs) };
    let sourceName = ref.name;
    if (ref.override) {
      const renamed = ref.override.item.attributes.find((found) => found.name === 'name');
      if (renamed) sourceName = issues.catch(() => toText(evaluate(renamed.expression, plain), 'the source name'), sourceName);
      // The build's own source block knows its source and build, as steps do.
      const own = buildReferences({ type: ref.type, name: sourceName }, name);
      const refer: Context['reference'] = (root, key, node) => own(root, key, node) ?? dataRefs(root, key, node);
      const added = translator.body(ref.override.item, ref.override.file, path, refer, new Set(['name']));
      for (const [key, value] of Object.entries(added)) {
        if (key in builder) issues.add(translator.positions.get(joinPath(path, key)) ?? ref.where, `"${key}" is already set in source "${ref.type}" "${ref.name}"`);
        else builder[key] = value;
      }
    }
    builder.name = sourceName;
    substituteData(builder, path, data, translator, issues);
    builders.push(builder);
    active.push({ type: ref.type, name: sourceName });
  });
  // The build's steps are evaluated for the one source that is built: the first one
  // `-only` / `-except` leave (by name or type, as the JSON loader chooses).
  const chosen = (source: { type: string; name: string }): boolean =>
    (selection.only === undefined || selection.only.length === 0 || selection.only.includes(source.name) || selection.only.includes(source.type)) &&
    !(selection.except ?? []).some((name) => name === source.name || name === source.type);
  const current = active.find(chosen) ?? active[0] ?? { type: 'amazon-chroot', name: '' };
  const references = (located: Context['reference']): Context['reference'] => (root, key, node) =>
    buildReferences(current, name)(root, key, node) ?? located(root, key, node);

  const provisioners: Record<string, Value>[] = [];
  const postProcessors: (Record<string, Value> | Record<string, Value>[])[] = [];
  const step = (block: Block, path: string): Record<string, Value> | undefined => {
    translator.positions.set(path, at(buildFile, block.node));
    const body = translator.body(block, buildFile, path, references(dataRefs));
    if (block.labels.length < 1) issues.add(at(buildFile, block.node), `a ${block.type} block takes its type as a label`);
    // `only` and `except` name sources: the step is dropped when it does not apply.
    for (const filter of SOURCE_FILTERS) {
      const names = filter === 'only' ? body.only : body.except;
      if (names === undefined) continue;
      if (filter === 'only') delete body.only;
      else delete body.except;
      const list = Array.isArray(names) ? names.map((entry) => (typeof entry === 'string' ? entry.replace(/^source\./, '') : '')) : [];
      const listed = list.includes(`${current.type}.${current.name}`);
      if (filter === 'only' ? !listed : listed) return undefined;
    }
    const extraLabel = block.labels[1];
    return { type: block.labels[0] ?? '', ...(extraLabel ? { name: extraLabel } : {}), ...body };
  };
  for (const nested of build.blocks) {
    switch (nested.type) {
      case 'source':
        break;
      case 'provisioner': {
        const made = step(nested, joinPath('provisioners', provisioners.length));
        if (made) provisioners.push(made);
        break;
      }
      case 'post-processor': {
        const made = step(nested, joinPath('post-processors', postProcessors.length));
        if (made) postProcessors.push(made);
        break;
      }
      case 'post-processors': {
        const base = joinPath('post-processors', postProcessors.length);
        const chain = nested.blocks
          .map((inner, index) => step(inner, joinPath(base, index)))
          .filter((made): made is Record<string, Value> => made !== undefined);
        if (chain.length > 0) postProcessors.push(chain);
        break;
      }
      default:
        issues.add(at(buildFile, nested.node), `"${nested.type}" blocks are not supported in a build (provisioner, post-processor, post-processors, source)`);
    }
  }
  for (const attribute of build.attributes) {
    if (!['name', 'sources', 'description'].includes(attribute.name)) {
      issues.add(at(buildFile, attribute.node), `unknown build attribute "${attribute.name}" (name, sources, description)`);
    }
  }
  const description = build.attributes.find((found) => found.name === 'description');
  const template: Record<string, unknown> = { builders, provisioners };
  if (description) template.description = issues.catch(() => evaluate(description.expression, plain), null);
  if (postProcessors.length > 0) template['post-processors'] = postProcessors;
  return { template, positions: translator.positions, failed: translator.failed };
}

/** `source_ami = data.amazon-ami.NAME.id` becomes `source_ami_filter`; other uses are errors. */
function substituteData(
  builder: Record<string, Value>,
  path: string,
  data: ReadonlyMap<string, Located<Block>>,
  translator: Translator,
  issues: HclIssues,
): void {
  const sourceAmi = builder.source_ami;
  if (typeof sourceAmi === 'string' && sourceAmi.startsWith(DATA_MARK) && sourceAmi.endsWith('\u0000')) {
    const name = sourceAmi.slice(`${DATA_MARK}amazon-ami.`.length, -1);
    const { file, item: block } = data.get(name) as Located<Block>;
    const where = translator.positions.get(joinPath(path, 'source_ami')) ?? at(file, block.node);
    if ('source_ami_filter' in builder) issues.add(where, 'source_ami from a data source and source_ami_filter are both set');
    for (const attribute of block.attributes.filter((found) => !DATA_KEYS.has(found.name))) {
      issues.add(at(file, attribute.node), `data "amazon-ami": "${attribute.name}" is not supported (filters, owners, most_recent): the factory looks up images in its own region and account`);
    }
    const filter = translator.body({ ...block, attributes: block.attributes.filter((found) => DATA_KEYS.has(found.name)) }, file, joinPath(path, 'source_ami_filter'), () => undefined);
    delete builder.source_ami;
    builder.source_ami_filter = filter;
  }
  const stray: string[] = [];
  stringsWithMark(builder, path, stray);
  for (const found of stray) {
    issues.add(positionOf(translator.positions, found) ?? path, 'data.amazon-ami.NAME.id may only be source_ami\'s whole value');
  }
}

/** Where the longest known prefix of a JSON path was written. */
export function positionOf(positions: ReadonlyMap<string, string>, path: string): string | undefined {
  for (let prefix = path; prefix !== ''; prefix = prefix.replace(/(\[[^\]]*\]|\.?[^.[]+)$/, '')) {
    const found = positions.get(prefix);
    if (found !== undefined) return found;
  }
  return undefined;
}
