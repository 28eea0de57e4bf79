// dfrt serve driven by OpenAI's official Node SDK (run by cli_serve.sh against a server it
// started with an API key). Prints one FAIL line per failed check and "N passed, M failed".
// usage: node serve_openai.cjs SDK_DIR BASE_URL API_KEY MODEL WANT_CHAT WANT_COMPLETION
'use strict';
const [sdkDir, baseURL, apiKey, model, wantChat, wantCompletion] = process.argv.slice(2);
const OpenAI = require(sdkDir);

let passed = 0, failed = 0;
function check(name, got, want) {
    if (JSON.stringify(got) === JSON.stringify(want)) passed++;
    else {
        failed++;
        console.error(`FAIL: ${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
}
// expectError NAME PROMISE STATUS FRAGMENT: the SDK's APIError with this status and message
async function expectError(name, promise, status, fragment) {
    try {
        const r = await promise;
        check(`${name}: an error`, r, `HTTP ${status}`);
    } catch (e) {
        check(`${name}: status`, e.status, status);
        check(`${name}: message has "${fragment}"`, String(e.message).includes(fragment), true);
    }
}

const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 120000 });
const user = [{ role: 'user', content: 'In the beginning' }];

async function main() {
    const models = await client.models.list();
    check('models.list', models.data.map((m) => m.id), [model]);

    const chat = await client.chat.completions.create({ model, messages: user, max_tokens: 16, temperature: 0 });
    check('chat text', chat.choices[0].message.content, wantChat);
    check('chat finish_reason', chat.choices[0].finish_reason, 'length');
    check('chat usage', chat.usage.completion_tokens, 16);
    check('chat usage total', chat.usage.total_tokens, chat.usage.prompt_tokens + 16);

    const withSystem = await client.chat.completions.create({
        model, messages: [{ role: 'system', content: 'Be brief.' }, ...user], max_completion_tokens: 4, temperature: 0,
    });
    check('system + max_completion_tokens', withSystem.usage.completion_tokens, 4);
    check('a system message lengthens the prompt', withSystem.usage.prompt_tokens > chat.usage.prompt_tokens, true);

    const stream = await client.chat.completions.create({
        model, messages: user, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
    });
    let text = '', usage = null, finish = null;
    for await (const chunk of stream) {
        for (const c of chunk.choices) {
            text += c.delta.content || '';
            if (c.finish_reason) finish = c.finish_reason;
        }
        if (chunk.usage) usage = chunk.usage;
    }
    check('chat streamed', text, wantChat);
    check('chat streamed finish_reason', finish, 'length');
    check('chat streamed usage', usage && usage.completion_tokens, 16);

    const comp = await client.completions.create({ model, prompt: 'And God said', max_tokens: 10, temperature: 0 });
    check('completion', comp.choices[0].text, wantCompletion);
    const compStream = await client.completions.create({
        model, prompt: 'And God said', max_tokens: 10, temperature: 0, stream: true,
    });
    let ctext = '';
    for await (const chunk of compStream) ctext += chunk.choices.map((c) => c.text).join('');
    check('completion streamed', ctext, wantCompletion);

    const stopAt = wantCompletion.slice(4, 7);
    const stopped = await client.completions.create({
        model, prompt: 'And God said', max_tokens: 10, temperature: 0, stop: ['zzz', stopAt],
    });
    check('stop', [stopped.choices[0].text, stopped.choices[0].finish_reason],
        [wantCompletion.slice(0, wantCompletion.indexOf(stopAt)), 'stop']);

    const sample = () => client.completions.create({
        model, prompt: 'And God said', max_tokens: 12, temperature: 1.1, top_p: 0.95, seed: 1234,
        presence_penalty: 0.5, frequency_penalty: 0.2,
    });
    const [s1, s2] = await Promise.all([sample(), sample()]);
    check('seeded sampling, twice at once', s1.choices[0].text, s2.choices[0].text);

    // a stream the client abandons: the server goes on answering others
    const controller = new AbortController();
    const long = await client.completions.create(
        { model, prompt: 'And', max_tokens: 1500, stream: true }, { signal: controller.signal });
    let got = 0;
    try {
        for await (const chunk of long) {
            if (chunk.choices.length && ++got === 3) controller.abort();
        }
    } catch (e) {
        check('abort: the SDK reports it', e.name === 'APIUserAbortError' || e.name === 'AbortError', true);
    }
    check('after an abort', (await client.models.list()).data.length, 1);

    await expectError('wrong type', client.chat.completions.create({ model, messages: user, temperature: 'hot' }),
        400, "'temperature' must be a number");
    await expectError('n = 2', client.completions.create({ model, prompt: 'x', n: 2 }), 400, "'n'");
    await expectError('bad role', client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'x' }] }),
        400, 'messages[0]');
    await expectError('prompt too long', client.completions.create({ model, prompt: 'In the beginning '.repeat(800) }),
        400, 'the context is');
    const wrongKey = new OpenAI({ baseURL, apiKey: apiKey + 'x', maxRetries: 0 });
    await expectError('wrong key', wrongKey.models.list(), 401, 'API key');
}

main().catch((e) => {
    failed++;
    console.error(`FAIL: ${e.stack || e}`);
}).finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
});
