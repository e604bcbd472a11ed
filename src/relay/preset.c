/* preset.c - the provider presets (see preset.h). */
#include <string.h>
#include <strings.h>
#include "preset.h"

const char *const bk_groups[] = {
	"chat", "messages", "responses", "embeddings", "completions", "models",
	"count_tokens", "gemini", NULL
};

/* Support per group, in bk_groups[] order (see bkadmin.h): an OpenAI-format
 * provider passes chat and gets messages translated (xlate), an Anthropic
 * one the other way round; the rest passes only when the provider has it. */
#define BK_ANT "tpuuuppu"
#define BK_BOTH "ppuuuuuu"

/* Base URLs as the providers document them: OpenAI-format bases end where
 * "/chat/completions" is appended, Anthropic-format bases where
 * "/v1/messages" is. */
const struct bk_preset bk_presets[] = {
	{ "openai", "https://api.openai.com/v1", NULL, "OpenAI", NULL,
	  "https://platform.openai.com/docs/api-reference", "ptppppuu" },
	{ "anthropic", NULL, "https://api.anthropic.com", "Anthropic", NULL,
	  "https://docs.anthropic.com/en/api", BK_ANT },
	{ "azure", NULL, NULL, "Azure OpenAI (give --url https://RESOURCE.openai.azure.com)",
	  "azure", "https://learn.microsoft.com/azure/ai-services/openai/reference", "ptuppuuu" },
	{ "bedrock", NULL, "https://bedrock-runtime.us-east-1.amazonaws.com",
	  "AWS Bedrock (Anthropic models; key = access key id:secret[:session token])", "aws",
	  "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
	  "tpuuuuuu" },
	{ "gemini", "https://generativelanguage.googleapis.com/v1beta/openai", NULL,
	  "Google AI Studio (Gemini, OpenAI-compatible)", NULL,
	  "https://ai.google.dev/gemini-api/docs/openai", "ptupupuu" },
	{ "minimax", "https://api.minimax.io/v1", "https://api.minimax.io/anthropic", "MiniMax",
	  NULL, "https://platform.minimax.io/docs", BK_BOTH },
	{ "deepseek", "https://api.deepseek.com", "https://api.deepseek.com/anthropic", "DeepSeek",
	  NULL, "https://api-docs.deepseek.com", "ppuupuuu" },
	{ "moonshot", "https://api.moonshot.ai/v1", "https://api.moonshot.ai/anthropic",
	  "Moonshot (Kimi)", NULL, "https://platform.moonshot.ai/docs", "ppuuupuu" },
	{ "zhipu", "https://open.bigmodel.cn/api/paas/v4", "https://open.bigmodel.cn/api/anthropic",
	  "Zhipu (GLM)", NULL, "https://docs.bigmodel.cn", "ppupuuuu" },
	{ "qwen", "https://dashscope.aliyuncs.com/compatible-mode/v1",
	  "https://dashscope.aliyuncs.com/apps/anthropic", "Qwen / DashScope", NULL,
	  "https://help.aliyun.com/zh/model-studio/", "ppupupuu" },
	{ "dashscope", "https://dashscope.aliyuncs.com/compatible-mode/v1",
	  "https://dashscope.aliyuncs.com/apps/anthropic", "Qwen / DashScope", NULL,
	  "https://help.aliyun.com/zh/model-studio/", "ppupupuu" },
	{ "volcengine", "https://ark.cn-beijing.volces.com/api/v3", NULL, "Volcengine Ark (Doubao)",
	  NULL, "https://www.volcengine.com/docs/82379", "ptupuuuu" },
	{ "siliconflow", "https://api.siliconflow.cn/v1", NULL, "SiliconFlow", NULL,
	  "https://docs.siliconflow.cn", "ptupupuu" },
	{ "qianfan", "https://qianfan.baidubce.com/v2", NULL, "Baidu Qianfan", NULL,
	  "https://cloud.baidu.com/doc/qianfan-api/", "ptupuuuu" },
	{ "openrouter", "https://openrouter.ai/api/v1", NULL, "OpenRouter", NULL,
	  "https://openrouter.ai/docs", "ptuuppuu" },
	{ "groq", "https://api.groq.com/openai/v1", NULL, "Groq", NULL,
	  "https://console.groq.com/docs/openai", "ptuuupuu" },
	{ "mistral", "https://api.mistral.ai/v1", NULL, "Mistral", NULL,
	  "https://docs.mistral.ai/api/", "ptupupuu" },
	{ "xai", "https://api.x.ai/v1", NULL, "xAI", NULL, "https://docs.x.ai/docs", "ptpuupuu" },
	{ "together", "https://api.together.xyz/v1", NULL, "Together", NULL,
	  "https://docs.together.ai", "ptuppuuu" },
	{ "fireworks", "https://api.fireworks.ai/inference/v1", NULL, "Fireworks", NULL,
	  "https://docs.fireworks.ai", "ptuppuuu" },
	{ "ollama", "http://127.0.0.1:11434/v1", NULL, "Ollama (keyless)", "none",
	  "https://github.com/ollama/ollama/blob/main/docs/openai.md", "ptupppuu" },
	{ "vllm", "http://127.0.0.1:8000/v1", NULL, "vLLM (keyless)", "none",
	  "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html", "ptupppuu" },
	{ "openai-compatible", NULL, NULL, "any OpenAI-compatible endpoint (give --url)", NULL,
	  "https://platform.openai.com/docs/api-reference", "ptppppuu" },
	{ "anthropic-compatible", NULL, NULL, "any Anthropic-compatible endpoint (give --url)",
	  NULL, "https://docs.anthropic.com/en/api", "tpuuuuuu" },
	{ NULL, NULL, NULL, NULL, NULL, NULL, NULL }
};

const struct bk_preset *bk_preset_find(const char *name)
{
	const struct bk_preset *p;

	for (p = bk_presets; name && p->name; p++)
		if (strcasecmp(p->name, name) == 0)
			return p;
	return NULL;
}

int bk_group_index(const char *group)
{
	int i;

	for (i = 0; group && bk_groups[i]; i++)
		if (strcmp(bk_groups[i], group) == 0)
			return i;
	return -1;
}

char bk_preset_support(const char *preset, const char *group)
{
	const struct bk_preset *p = bk_preset_find(preset);
	int g = bk_group_index(group);

	if (!p || g < 0 || !p->support || (int)strlen(p->support) <= g)
		return 0;
	return p->support[g];
}

const char *bk_preset_responses(const char *preset)
{
	static const struct { const char *name, *rs; } known[] = {
		{ "openai", "yes" }, { "deepseek", "yes" }, { "qwen", "yes" },
		{ "dashscope", "yes" }, { "minimax", "no" }, { "moonshot", "no" },
		{ "zhipu", "no" },
	};

	for (size_t i = 0; preset && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcasecmp(known[i].name, preset) == 0)
			return known[i].rs;
	return NULL;
}
