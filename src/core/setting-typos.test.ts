import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestSetting, describeTypo, editDistance, findSettingTypos, typoBudget } from './setting-typos.js';
import { SETTINGS } from './settings.js';

describe('editDistance (Damerau-Levenshtein, optimal string alignment)', () => {
  it('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
    assert.equal(editDistance('DATABASE_URL', 'DATABASE_URL'), 0);
    assert.equal(editDistance('DATABSE_URL', 'DATABASE_URL'), 1, 'deletion');
    assert.equal(editDistance('MQTT_URLL', 'MQTT_URL'), 1, 'insertion');
    assert.equal(editDistance('MQTT_PORX', 'MQTT_PORT'), 1, 'substitution');
    assert.equal(editDistance('MQTT_HSOT', 'MQTT_HOST'), 1, 'swap of neighbours (plain Levenshtein says 2)');
    assert.equal(editDistance('', 'ABC'), 3);
    assert.equal(editDistance('ABC', ''), 3);
    assert.equal(editDistance('CA', 'ABC'), 3, 'optimal string alignment does not edit a swapped pair again');
  });

  it('is symmetric', () => {
    const names = ['MQTT_HOST', 'MQTT_HSOT', 'POSTGRES_DB', 'PGDATABASE', 'X', ''];
    for (const a of names) for (const b of names) assert.equal(editDistance(a, b), editDistance(b, a), `${a} / ${b}`);
  });
});

describe('misspelt settings', () => {
  it('names the setting a near miss probably meant', () => {
    const cases: Record<string, string> = {
      DATABSE_URL: 'DATABASE_URL',
      DATABASE_ULR: 'DATABASE_URL',
      MQTT_URLL: 'MQTT_URL',
      MQTT_HSOT: 'MQTT_HOST',
      POSTGRES_PASWORD: 'POSTGRES_PASSWORD',
      POSTGRESS_DB: 'POSTGRES_DB',
      POSTGRES_USR: 'POSTGRES_USER',
      MQTT_EVENT_TOPIC: 'MQTT_EVENTS_TOPIC',
      MQTT_DEADLETTERS_TOPIC: 'MQTT_DEADLETTER_TOPIC',
      ACK_TEMPLATES: 'ACK_TEMPLATE',
      database_url: 'DATABASE_URL',
      Mqtt_Url: 'MQTT_URL',
      // Our prefix, a known name cut short.
      MQTT_USER: 'MQTT_USERNAME',
      MQTT_PASS: 'MQTT_PASSWORD',
      POSTGRES_PASS: 'POSTGRES_PASSWORD',
    };
    for (const [typo, meant] of Object.entries(cases)) assert.equal(closestSetting(typo), meant, typo);
  });

  it('never flags a setting spelt right', () => {
    for (const s of SETTINGS) assert.equal(closestSetting(s.env), undefined, s.env);
    const env = Object.fromEntries(SETTINGS.map((s) => [s.env, 'x']));
    assert.deepEqual(findSettingTypos(env), []);
  });

  it('leaves other programs’ variables alone', () => {
    const env = {
      PATH: '', HOME: '', HOSTNAME: '', USER: '', SHELL: '', TERM: '', LANG: '', PWD: '', NODE_ENV: '', NODE_OPTIONS: '', DEBUG: '', TZ: '',
      PGHOST: '', PGPORT: '', PGUSER: '', PGPASSWORD: '', PGDATABASE: '',
      POSTGRES_INITDB_ARGS: '', POSTGRES_HOST_AUTH_METHOD: '', POSTGRES_PASSWORD_FILE: '', POSTGRES_DB_FILE: '',
      MQTT_TOPIC: '', MQTT_QOS: '', DATABASE: '', npm_config_cache: '', npm_lifecycle_event: '',
    };
    assert.deepEqual(findSettingTypos(env), []);
  });

  it('allows two edits, but one where the part after the first _ is short', () => {
    assert.equal(typoBudget('MQTT_URL'), 1);
    assert.equal(typoBudget('POSTGRES_HOST'), 1);
    assert.equal(typoBudget('MQTT_USERNAME'), 2);
    assert.equal(typoBudget('ACK_TEMPLATE'), 2);
    assert.equal(closestSetting('MQTT_XRL'), 'MQTT_URL');
    assert.equal(closestSetting('MQTT_XXL'), undefined, 'two edits away from a short name');
    assert.equal(closestSetting('MQTT_QOS'), undefined, 'two edits away from MQTT_HOST');
    assert.equal(closestSetting('MQTT_USRENAME'), 'MQTT_USERNAME');
    assert.equal(closestSetting('MQTT_UZERNAMEE'), 'MQTT_USERNAME', 'two edits away from a longer name');
    assert.equal(closestSetting('MQTT_UZRNAMEEE'), undefined, 'three edits away');
    assert.equal(closestSetting('MQTT_U'), undefined, 'too short a stub to guess from');
  });

  it('reports one warning per suspicious variable, and leaves TELEHUB_* to the configuration check', () => {
    const typos = findSettingTypos({ MQTT_URLL: 'mqtt://b', DATABSE_URL: 'postgres://u:secret@h/db', TELEHUB_BATCHMAX: '1', TELEHUB_TEST_DATABASE_URL: 'x', HOME: '/root' });
    assert.deepEqual(typos, [
      { variable: 'DATABSE_URL', meant: 'DATABASE_URL' },
      { variable: 'MQTT_URLL', meant: 'MQTT_URL' },
    ]);
    const line = describeTypo(typos[0]);
    assert.match(line, /DATABSE_URL.*did you mean DATABASE_URL\?/);
    assert.ok(!line.includes('secret'), 'a warning never shows the value');
  });
});
