import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BuildBundleSchema } from '../../contract/bundle.ts';
import { bundleTemplateFile, loadBundle } from '../../model/bundle.ts';
import { loadTemplateFile, loadVarFile, maskSensitiveDeep } from '../../model/index.ts';
import { loadHcl2Template } from '../../model/hcl2/load.ts';
import { parseHclVarFile } from '../../model/hcl2/var-file.ts';
import { errorsOfAsync, NOW, scratchDir } from './support.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'hcl2');
const WEB = join(FIXTURES, 'web');

/** A one-file template in a scratch folder: `body` goes inside the source block. */
function scratchTemplate(text: string, extra: Record<string, string> = {}): string {
  const dir = scratchDir();
  for (const [name, content] of Object.entries(extra)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const path = join(dir, 'image.pkr.hcl');
  writeFileSync(path, text);
  return path;
}

const source = (body: string, before = ''): string =>
  `${before}\nsource "amazon-chroot" "x" {\n  source_ami = "ami-0123456789abcdef0"\n${body}\n}\nbuild {\n  sources = ["source.amazon-chroot.x"]\n}\n`;

/** The ami_description a template's expression gives. */
async function describe_(expression: string, before = ''): Promise<string> {
  const path = scratchTemplate(source(`  ami_name = "name"\n  ami_description = ${expression}`, before), { 'data/config.json': '{"size": 3}\n' });
  return (await loadHcl2Template(path, { now: NOW })).request.builder.ami_description;
}

describe('HCL2 templates', () => {
  it('give the same request as their Packer JSON twin', async () => {
    const hcl = await loadHcl2Template(join(WEB, 'web.pkr.hcl'), { now: NOW });
    const json = await loadTemplateFile(join(WEB, 'web.json'), { now: NOW });
    expect(hcl.request).toEqual(json);
    expect(hcl.request.provisioners.map((provisioner) => provisioner.type)).toEqual(['shell', 'file', 'shell']);
    expect(hcl.templateFiles).toEqual(['web.pkr.hcl']);
    expect(hcl.reads).toEqual(['files/motd.tpl']);
  });

  it('mask sensitive variables as JSON templates do', async () => {
    const { request } = await loadHcl2Template(join(WEB, 'web.pkr.hcl'), { now: NOW, vars: { api_token: 's3cret-value' } });
    expect(request.sensitive_values).toEqual(['s3cret-value']);
    expect(JSON.stringify(maskSensitiveDeep(request, request.sensitive_values))).not.toContain('s3cret-value');
  });

  it('convert -var values to the declared types and run validation blocks', async () => {
    const { request } = await loadHcl2Template(join(WEB, 'web.pkr.hcl'), {
      now: NOW,
      vars: { root_size_gb: '20', extra_packages: '["vim"]', environment: 'production' },
    });
    expect(request.builder.root_volume_size).toBe(20);
    expect(request.builder.ami_name).toBe('web-production-1714979289');
    expect(request.variables_used.extra_packages).toBe('["vim"]');

    const errors = await errorsOfAsync(() =>
      loadHcl2Template(join(WEB, 'web.pkr.hcl'), { now: NOW, vars: { environment: 'dev', team: 'Bad Team', root_size_gb: 'big', nope: '1' } }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'web.pkr.hcl:25:5', message: 'var.environment: The environment must be staging or production, not dev.' },
        { path: 'web.pkr.hcl:16:5', message: 'var.team: The team must be lower-case letters, digits and dashes.' },
        { path: 'web.pkr.hcl:30:1', message: 'var.root_size_gb must be a number, got string "big"' },
        { path: 'nope', message: expect.stringContaining('no variable "nope" is declared') as string },
      ]),
    );
  });

  it('read .auto.pkrvars.hcl beside the template, below -var', async () => {
    const path = scratchTemplate(
      source('  ami_name = "${var.a}-${var.b}-${join("_", var.c)}"', 'variable "a" {}\nvariable "b" {}\nvariable "c" { type = list(string) }'),
      { 'x.auto.pkrvars.hcl': 'a = "auto"\nb = "auto"\nc = ["p", "q"]\n' },
    );
    const { request } = await loadHcl2Template(path, { now: NOW, vars: { b: 'cli' } });
    expect(request.builder.ami_name).toBe('auto-cli-p_q');
    expect(await parseHclVarFile('v.pkrvars.hcl', 'n = 3\nl = ["a", 1]\ns = "x"\n')).toEqual({ n: '3', l: '["a",1]', s: 'x' });
  });

  it('load a folder of .pkr.hcl files as one template', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'variables.pkr.hcl'), 'variable "name" {\n  default = "folder"\n}\n');
    writeFileSync(join(dir, 'build.pkr.hcl'), source('  ami_name = var.name'));
    const result = await loadHcl2Template(dir, { now: NOW });
    expect(result.request.builder.ami_name).toBe('folder');
    expect(result.templateFiles).toEqual(['build.pkr.hcl', 'variables.pkr.hcl']);
  });

  it('evaluate the function families real templates use', async () => {
    expect(await describe_('"${upper("a")}-${replace("a.b.c", ".", "_")}-${regex_replace("v1.2", "[^0-9]", "")}-${trimspace("  t ")}-${substr("abcdef", 1, 3)}"')).toBe('A-a_b_c-12-t-bcd');
    expect(await describe_('join(",", concat(split("-", "a-b"), keys({ z = 1, y = 2 }), [lookup({ k = "v" }, "k", "d"), element(["e", "f"], 3)]))')).toBe('a,b,y,z,v,f');
    expect(await describe_('jsonencode([length("héllo"), contains(["x"], "x"), flatten([[1], [2, [3]]]), coalesce("", "c"), merge({ a = 1 }, { b = 2 })])')).toBe('[5,true,[1,2,3],"c",{"a":1,"b":2}]');
    expect(await describe_('"${timestamp()} ${formatdate("DD MMM YYYY hh:mm ZZZ", "2024-05-06T07:08:09Z")} ${timeadd("2024-05-06T07:08:09Z", "1h30m")}"')).toBe('2024-05-06T07:08:09Z 06 May 2024 07:08 UTC 2024-05-06T08:38:09Z');
    expect(await describe_('"${base64decode(base64encode("hi"))} ${jsondecode(file("data/config.json")).size} ${fileexists("nope.txt")} ${basename("a/b.sh")} ${dirname("a/b.sh")}"')).toBe('hi 3 false b.sh a');
    expect(await describe_('"${regex("^v(\\\\d+)", "v12")[0]} ${length(regexall("a", "banana"))} ${format("%05.1f|%-3s|%q", 3.14159, "x", "y")}"')).toBe('12 3 003.1|x  |"y"');
    expect(await describe_('"${length(uuidv4())} ${uuidv5("dns", "example.com")}"')).toBe('36 cfbff0d1-9375-5685-968c-48ce8b15ae17');
    expect(await describe_('join(" ", [for s in ["a", "b", ""] : upper(s) if s != ""])')).toBe('A B');
    expect(await describe_('"${true ? 2 * (3 + 4) % 5 : -1} ${local.m["k"]} ${join("", [{ id = "i" }][*].id)}${([{ id = "j" }][*].id)[0]} %{ for v in ["x", "y"] }<${v}>%{ endfor }"', 'locals {\n  m = { k = "v" }\n}')).toBe('4 v ij <x><y>');
    expect(await describe_('<<-EOT\n    indented ${"text"}\n      more\n    EOT')).toBe('indented text\n  more\n');
  });

  it('turn a data "amazon-ami" used as source_ami into the builder\'s source_ami_filter', async () => {
    const path = scratchTemplate(
      'data "amazon-ami" "debian" {\n  filters = { name = "debian-12-*" }\n  owners = ["136693071363"]\n  most_recent = true\n}\n' +
        'source "amazon-chroot" "x" {\n  ami_name = "name"\n  source_ami = data.amazon-ami.debian.id\n}\nbuild {\n  sources = ["source.amazon-chroot.x"]\n}\n',
    );
    const { request } = await loadHcl2Template(path, { now: NOW });
    expect(request.builder.source_ami).toBeUndefined();
    expect(request.builder.source_ami_filter).toMatchObject({ filters: { name: 'debian-12-*' }, owners: ['136693071363'], most_recent: true });
  });

  it('report every error at once, at file:line:column', async () => {
    const path = scratchTemplate(
      source(
        '  ami_name = nosuch("x")\n  ami_description = local.a\n  ena_support = "maybe"\n  tags = { n = file("../outside") }',
        'locals {\n  a = local.b\n  b = local.a\n}',
      ),
    );
    const errors = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: 'image.pkr.hcl:7:14', message: expect.stringContaining('function "nosuch" is not supported') as string },
        { path: 'image.pkr.hcl:2:3', message: expect.stringContaining('locals refer to each other in a cycle') as string },
        { path: 'image.pkr.hcl:10:16', message: expect.stringContaining('outside the template\'s folder') as string },
        // The JSON validator's own errors come with them, not its echoes of the ones above.
        { path: 'image.pkr.hcl:9:3', message: expect.stringContaining('source.amazon-chroot.x.ena_support') as string },
      ]),
    );
    expect(errors).toHaveLength(4);
  });

  it('point the JSON validator\'s errors at the HCL that wrote them', async () => {
    const path = scratchTemplate(source('  ami_name = "name"\n  ena_support = "maybe"\n  no_such_option = 1'));
    const errors = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    expect(errors.map((error) => error.path).sort()).toEqual(['image.pkr.hcl:5:3', 'image.pkr.hcl:6:3']);
    expect(errors.map((error) => error.message).join('\n')).toContain('source.amazon-chroot.x.');
  });

  it('report a syntax error where it is', async () => {
    const path = scratchTemplate('source "amazon-chroot" "x" {\n  ami_name = "n"\n  tags = {\n}\n');
    const [error] = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    expect(error?.path).toMatch(/^image\.pkr\.hcl:\d+:\d+$/);
    expect(error?.message).toContain('HCL syntax error');
  });

  it('travel in a bundle as their files, and load the same on the far side', async () => {
    const bundle = BuildBundleSchema.parse(
      await bundleTemplateFile(join(WEB, 'web.pkr.hcl'), { now: NOW, vars: { extra_packages: '["vim", "git"]' } }),
    );
    expect(bundle.template).toEqual({});
    expect(bundle.hcl2).toEqual(['web.pkr.hcl']);
    expect(Object.keys(bundle.files).sort()).toEqual(['files/banner.txt', 'files/motd.tpl', 'scripts/setup.sh', 'web.pkr.hcl']);
    const here = await loadTemplateFile(join(WEB, 'web.pkr.hcl'), { now: NOW, vars: { extra_packages: '["vim", "git"]' } });
    const workDir = scratchDir();
    const there = await loadBundle(bundle, workDir);
    expect(there.builder).toEqual(here.builder);
    expect(there.variables_used).toEqual(here.variables_used);
    expect(JSON.stringify(there.provisioners).replaceAll(workDir, WEB)).toEqual(JSON.stringify(here.provisioners));
  });

  it('keep maps and untyped lists through a bundle\'s string variables', async () => {
    const path = scratchTemplate(
      source('  ami_name = "${var.m["k"]}-${join("-", var.l)}"', 'variable "m" {\n  type = map(string)\n  default = { k = "v" }\n}\nvariable "l" {\n  default = ["a", "b"]\n}'),
    );
    const bundle = await bundleTemplateFile(path, { now: NOW });
    expect(bundle.variables).toEqual({ m: '{"k":"v"}', l: '["a","b"]' });
    expect((await loadBundle(bundle, scratchDir())).builder.ami_name).toBe('v-a-b');
  });

  it('take .pkrvars.hcl var files through the CLI\'s loader', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'prod.pkrvars.hcl'), 'environment = "production"\nroot_size_gb = 30\n');
    expect(await loadVarFile(join(dir, 'prod.pkrvars.hcl'))).toEqual({ environment: 'production', root_size_gb: '30' });
  });

  it('rename a source in the build, filter steps with only/except and keep post-processors', async () => {
    const path = scratchTemplate(
      'source "amazon-chroot" "base" {\n  ami_name = "img-${source.name}"\n  source_ami = "ami-0123456789abcdef0"\n}\n' +
        'build {\n  name = "web"\n  source "source.amazon-chroot.base" {\n    name = "renamed"\n    ami_description = "${build.name}/${source.name}"\n  }\n' +
        '  provisioner "shell" {\n    only = ["amazon-chroot.renamed"]\n    inline = ["echo ${source.name} ${source.type}"]\n  }\n' +
        '  provisioner "shell" {\n    except = ["amazon-chroot.renamed"]\n    inline = ["never"]\n  }\n' +
        '  post-processor "manifest" {\n    strip_time = true\n  }\n}\n',
    );
    const errors = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    // source.name is the build's to know: a source block cannot refer to it.
    expect(errors).toEqual([{ path: 'image.pkr.hcl:2:21', message: '"source.name" cannot be referenced here' }]);
    writeFileSync(path, readFileSync(path, 'utf8').replace('img-${source.name}', 'img-web'));
    const { request } = await loadHcl2Template(path, { now: NOW });
    expect(request.builder).toMatchObject({ name: 'renamed', ami_description: 'web/renamed' });
    expect(request.provisioners).toEqual([expect.objectContaining({ inline: ['echo renamed amazon-chroot'] })]);
  });

  it('refuse templates that compute without end', async () => {
    const path = scratchTemplate(source('  ami_name = "name"\n  ami_description = length(flatten([for a in range(1000) : [for b in range(1000) : b]]))'));
    const errors = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    expect(errors).toEqual([{ path: expect.stringMatching(/^image\.pkr\.hcl:5:\d+$/) as string, message: expect.stringContaining('too many evaluation steps') as string }]);
  });

  it('place errors inside templatefile()\'s file', async () => {
    const path = scratchTemplate(source('  ami_name = "name"\n  tags = { t = templatefile("t.tpl", {}) }'), { 't.tpl': 'line one\n${nosuch}\n' });
    const errors = await errorsOfAsync(() => loadHcl2Template(path, { now: NOW }));
    expect(errors).toEqual([{ path: 't.tpl:2:3', message: expect.stringContaining('unknown name "nosuch"') as string }]);
  });

  it('choose one of several sources with -only TYPE.NAME, as Packer names them', async () => {
    const sourceBlock = (name: string): string => `source "amazon-chroot" "${name}" {\n  ami_name = "img-${name}"\n  source_ami = "ami-0123456789abcdef0"\n}\n`;
    const path = scratchTemplate(
      `${sourceBlock('a')}${sourceBlock('b')}build {\n  sources = ["source.amazon-chroot.a", "source.amazon-chroot.b"]\n  provisioner "shell" {\n    inline = ["echo \${source.name}"]\n  }\n}\n`,
    );
    const { request } = await loadHcl2Template(path, { now: NOW, only: ['amazon-chroot.b'] });
    expect(request.builder).toMatchObject({ name: 'b', ami_name: 'img-b' });
    expect(request.provisioners).toEqual([expect.objectContaining({ inline: ['echo b'] })]);
  });
});
